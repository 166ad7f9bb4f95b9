use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::*;
use crate::secret::TokenFormat;

const KEY: &str = "TWO4jDx9KyW2IT1sPQpebt9LuwF1tNyNZD6ADQjtl0E=";
const WRONG_KEY: &str = "rFWPZYxmpta5zwszaxYGP3nfQc9PktrcknQT2-PG4Ag=";
/// "proxyuser" and "p@ss w0rd!" as NETunnel 1.0.x encrypted them with KEY.
const FERNET_USER: &str = "gAAAAABrCuaPUcBoGjzyYpnuZaA_yNsZnj3MEXaToeTMSqljw7I5oZiaTfIKpy5kKCYyIjD1OWhmn9bVAC-MhMxwhR_ty4Em8w==";
const FERNET_PASS: &str = "gAAAAABrCuaPiQLu3VXwAzsi_sfElZihKq2VRpSwf7i21XLfCJ0EBLVJSqB5N5S4EJWDYhvJZJUhKSGG_i_Bu36fgM34tdWAeQ==";

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn read(path: &Path) -> Map<String, Value> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: Value) {
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

#[test]
fn first_start_writes_defaults_and_a_generated_key_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/folder/netunnel.conf");
    let store = ConfigStore::open(Some(&path), None, &no_env).unwrap();
    assert_eq!(store.key_source(), KeySource::Generated);
    let file = read(&path);
    for key in DEFAULT_KEYS {
        assert_eq!(file.get(key), defaults().get(key), "{key}");
    }
    let key = file["secret_key"].as_str().unwrap();
    assert!(SecretKey::parse(key).is_ok());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Indented by 4, as NETunnel writes it.
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("\n    \"allow_unverified_ssl_peers\""));
    // The second start keeps the key.
    let again = ConfigStore::open(Some(&path), None, &no_env).unwrap();
    assert_eq!(again.key_source(), KeySource::File);
    assert_eq!(read(&path)["secret_key"], key);
}

#[test]
fn secret_key_precedence_flag_env_file_generated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    write_json(&path, json!({"secret_key": KEY}));
    let other = SecretKey::generate().unwrap().encode();
    let env_only = env(&[("NETUNNEL_SECRET_KEY", WRONG_KEY)]);

    let store = ConfigStore::open(Some(&path), Some(&other), &env_only).unwrap();
    assert_eq!(store.key_source(), KeySource::Flag);
    let store = ConfigStore::open(Some(&path), None, &env_only).unwrap();
    assert_eq!(store.key_source(), KeySource::Environment);
    let store = ConfigStore::open(Some(&path), None, &no_env).unwrap();
    assert_eq!(store.key_source(), KeySource::File);
    // Keys from a flag or the environment are never written to the file.
    let fresh = dir.path().join("fresh.json");
    ConfigStore::open(Some(&fresh), Some(&other), &no_env).unwrap();
    assert!(read(&fresh).get("secret_key").is_none());
    let fresh_env = dir.path().join("fresh-env.json");
    ConfigStore::open(Some(&fresh_env), None, &env_only).unwrap();
    assert!(read(&fresh_env).get("secret_key").is_none());
    assert_eq!(read(&path)["secret_key"], KEY);
}

#[test]
fn env_overrides_replace_defaults_but_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let vars = env(&[
        (
            "NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS",
            r#"{"127.0.0.1": "22"}"#,
        ),
        ("NETUNNEL_REVISION", "7"),
    ]);
    let store = ConfigStore::open(Some(&path), None, &vars).unwrap();
    assert_eq!(store.get("revision"), Some(json!(7)));
    assert!(store.allowed_destinations().check("127.0.0.1", 22).is_ok());
    assert!(store.allowed_destinations().check("127.0.0.1", 23).is_err());
    // Once written, the file's values win over the environment.
    let other = env(&[("NETUNNEL_REVISION", "9")]);
    let store = ConfigStore::open(Some(&path), None, &other).unwrap();
    assert_eq!(store.get("revision"), Some(json!(7)));
    // Stateless servers honour them at every start.
    let store = ConfigStore::in_memory(None, &other).unwrap();
    assert_eq!(store.get("revision"), Some(json!(9)));
    // A broken override is an error naming the variable.
    let broken = env(&[("NETUNNEL_PEERS", "{not json")]);
    let err = ConfigStore::in_memory(None, &broken)
        .unwrap_err()
        .to_string();
    assert!(err.contains("NETUNNEL_PEERS"), "{err}");
}

#[test]
fn top_level_keys_replace_defaults_and_unknown_keys_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    write_json(
        &path,
        json!({"allowed_tunnel_destinations": {"10.0.0.1": "443"}, "future_key": {"a": [1, 2]}}),
    );
    let store = ConfigStore::open(Some(&path), None, &no_env).unwrap();
    // No deep merge: 127.0.0.1 from the defaults is gone.
    assert!(store.allowed_destinations().check("127.0.0.1", 22).is_err());
    assert!(store.allowed_destinations().check("10.0.0.1", 443).is_ok());
    store
        .update(|values, _| values.insert("revision".into(), json!(2)))
        .unwrap();
    let file = read(&path);
    assert_eq!(file["future_key"], json!({"a": [1, 2]}));
    assert_eq!(file["revision"], 2);
}

#[test]
fn invalid_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, "{not json").unwrap();
    let err = ConfigStore::open(Some(&path), None, &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");

    for (key, value, words) in [
        (
            "allowed_tunnel_destinations",
            json!(["127.0.0.1"]),
            "port lists",
        ),
        (
            "allowed_tunnel_entrances",
            json!({"0.0.0.0": 22}),
            "port lists",
        ),
        ("allow_unverified_ssl_peers", json!("yes"), "true or false"),
        ("peers", json!({}), "list"),
        ("http_proxy", json!("http://proxy"), "null or an object"),
    ] {
        let original = serde_json::to_string(&json!({ key: value })).unwrap();
        std::fs::write(&path, &original).unwrap();
        let err = ConfigStore::open(Some(&path), None, &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(key) && err.contains(words), "{key}: {err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
    }
}

#[test]
fn netunnel_1_0_fernet_credentials_load_and_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let original = json!({
        "allowed_tunnel_destinations": {"127.0.0.1": "*"},
        "http_proxy": {"proxy_url": "http://127.0.0.1:3128", "username": FERNET_USER, "password": FERNET_PASS},
        "http_proxy_test_url": "https://google.com",
        "peers": [],
        "allow_unverified_ssl_peers": false,
        "revision": 1,
        "secret_key": KEY
    });
    write_json(&path, original.clone());
    let store = ConfigStore::open(Some(&path), None, &no_env).unwrap();
    let proxy = store.http_proxy().unwrap();
    assert_eq!(proxy.username.as_deref(), Some("proxyuser"));
    assert_eq!(proxy.password.as_deref(), Some("p@ss w0rd!"));
    assert!(store.warnings().is_empty());
    assert_eq!(
        Value::Object(read(&path)),
        original,
        "loading must not rewrite values"
    );
    let shown = format!("{proxy:?}");
    assert!(
        !shown.contains("proxyuser") && !shown.contains("w0rd"),
        "{shown}"
    );

    // The wrong key: refuse to start, naming the setting, without the secret.
    let err = ConfigStore::open(Some(&path), Some(WRONG_KEY), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("http_proxy.username"), "{err}");
    assert!(!err.contains(WRONG_KEY) && !err.contains(KEY), "{err}");

    // A tampered token: same.
    let mut tampered = original.clone();
    tampered["http_proxy"]["password"] =
        json!(FERNET_PASS.replace("gAAAAABrCuaPiQ", "gAAAAABrCuaPiR"));
    write_json(&path, tampered);
    let err = ConfigStore::open(Some(&path), None, &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("http_proxy.password"), "{err}");
}

#[test]
fn masked_credentials_from_1_0_warn_and_run_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    write_json(
        &path,
        json!({"secret_key": KEY, "http_proxy": {"proxy_url": "http://127.0.0.1:3128", "username": "******", "password": "******"}}),
    );
    let store = ConfigStore::open(Some(&path), None, &no_env).unwrap();
    assert_eq!(store.warnings().len(), 2);
    assert!(store.warnings()[0].contains("http_proxy.username"));
    let proxy = store.http_proxy().unwrap();
    assert_eq!((proxy.username, proxy.password), (None, None));
}

#[test]
fn what_we_write_is_aes_gcm_and_reset_restores_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let store = ConfigStore::open(Some(&path), None, &no_env).unwrap();
    let token = store.encrypt("secret-user").unwrap();
    assert!(token.starts_with("ntv1:"));
    assert_eq!(store.decrypt("x", &token).unwrap(), "secret-user");
    let old_key = read(&path)["secret_key"].clone();
    store
        .update(|values, _| values.insert("revision".into(), json!(5)))
        .unwrap();
    store.reset(&no_env).unwrap();
    let file = read(&path);
    assert_eq!(file["revision"], 1);
    assert_ne!(
        file["secret_key"], old_key,
        "a stored key is regenerated, as 1.0.x does"
    );
    let key = SecretKey::parse(KEY).unwrap();
    assert!(key
        .encrypt("x", TokenFormat::Fernet)
        .unwrap()
        .starts_with("gAAAAA"));
}

#[test]
fn an_unreadable_allow_list_allows_nothing() {
    let store = ConfigStore::open(None, Some(KEY), &no_env).unwrap();
    assert!(store.allowed_entrances().is_none(), "absent: any entrance");
    // Stored past validation (through `update`): read as allowing nothing.
    store
        .update(|values, _| {
            values.insert(
                "allowed_tunnel_entrances".into(),
                json!({"10.0.0.0/33": "*"}),
            );
        })
        .unwrap();
    let entrances = store.allowed_entrances().expect("present");
    assert!(entrances.check_as("10.0.0.1", 22, "entrance").is_err());
    assert!(entrances.check_as("127.0.0.1", 22, "entrance").is_err());
}
