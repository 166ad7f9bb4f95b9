//! The configuration file, secret keys and the `security` / `config` tools,
//! through the real binary.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::*;

const KEY: &str = "TWO4jDx9KyW2IT1sPQpebt9LuwF1tNyNZD6ADQjtl0E=";
const WRONG_KEY: &str = "rFWPZYxmpta5zwszaxYGP3nfQc9PktrcknQT2-PG4Ag=";
const FERNET_USER: &str = "gAAAAABrCuaPUcBoGjzyYpnuZaA_yNsZnj3MEXaToeTMSqljw7I5oZiaTfIKpy5kKCYyIjD1OWhmn9bVAC-MhMxwhR_ty4Em8w==";
const FERNET_PASS: &str = "gAAAAABrCuaPiQLu3VXwAzsi_sfElZihKq2VRpSwf7i21XLfCJ0EBLVJSqB5N5S4EJWDYhvJZJUhKSGG_i_Bu36fgM34tdWAeQ==";

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn server_with(args: &[&str], env: &[(&str, &str)]) -> (Proc, u16) {
    let mut command = Command::new(bin());
    command
        .args(["server", "-p", "0"])
        .args(args)
        .env_remove("NETUNNEL_SECRET_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut server = Proc::spawn_with(&mut command);
    let port = port_of(&server.wait_line("Starting server on"));
    (server, port)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env_remove("NETUNNEL_SECRET_KEY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

#[test]
fn config_file_is_created_private_and_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc/netunnel/netunnel.conf");
    let arg = path_arg(&path);
    let (mut server, _) = server_with(&["-c", &arg], &[]);
    assert!(
        !server.seen.iter().any(|l| l.contains("stateless")),
        "{:?}",
        server.seen
    );
    let first = read(&path);
    let key = first["secret_key"].as_str().unwrap().to_string();
    assert_eq!(
        first["allowed_tunnel_destinations"],
        json!({"127.0.0.1": "*"})
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The folders it created are its own.
    for folder in [
        path.parent().unwrap(),
        path.parent().unwrap().parent().unwrap(),
    ] {
        let mode = std::fs::metadata(folder).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
    }
    server.signal("TERM");
    assert_eq!(server.wait_exit().0, Some(0));
    let (_server, _) = server_with(&["-c", &arg], &[]);
    assert_eq!(read(&path)["secret_key"], key.as_str());
}

#[test]
fn keys_from_flag_file_or_environment_never_reach_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let key_file = path_arg(&key_file);
    for (name, args, env) in [
        ("flag", vec!["-s", KEY], vec![]),
        ("file", vec!["--secret-key-file", key_file.as_str()], vec![]),
        ("env", vec![], vec![("NETUNNEL_SECRET_KEY", KEY)]),
    ] {
        let path = dir.path().join(format!("{name}.json"));
        let arg = path_arg(&path);
        let mut all = vec!["-c", arg.as_str()];
        all.extend(args);
        let (server, _) = server_with(&all, &env);
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(
            !file.contains("secret_key") && !file.contains(KEY),
            "{name}: {file}"
        );
        assert!(
            !server.seen.iter().any(|l| l.contains(KEY)),
            "{name}: key in the log"
        );
    }
}

#[test]
fn invalid_files_stop_the_server_with_the_file_and_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    let arg = path_arg(&path);
    for (content, needles) in [
        ("{\"peers\": [", vec!["bad.json", "not valid"]),
        (
            r#"{"allowed_tunnel_destinations": "127.0.0.1"}"#,
            vec!["bad.json", "allowed_tunnel_destinations"],
        ),
        (r#"{"revision": "one"}"#, vec!["revision", "integer"]),
        (
            r#"{"secret_key": "not-a-key"}"#,
            vec!["secret_key", "32 bytes"],
        ),
    ] {
        std::fs::write(&path, content).unwrap();
        let (code, _, stderr) = run(&["server", "-p", "0", "-c", &arg]);
        assert_eq!(code, 1, "{content}: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{content}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            content,
            "file was changed"
        );
    }
}

#[test]
fn allow_lists_from_the_file_govern_tunnels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(
        &path,
        json!({
            "allowed_tunnel_destinations": {"127.0.0.1": "22, 2222"},
            "allowed_tunnel_entrances": {"127.0.0.1": "*"}
        })
        .to_string(),
    )
    .unwrap();
    let arg = path_arg(&path);
    let (_server, port) = server_with(&["-c", &arg], &[]);
    let url = format!("http://127.0.0.1:{port}");
    // Allowed: the tunnel opens (nothing needs to listen at the exit for that).
    let (mut ok, _) = start_client(port, &["--remote-port", "2222"]);
    ok.signal("INT");
    assert_eq!(ok.wait_exit().0, Some(0));
    for (args, needle) in [
        (
            vec!["--remote-port", "23"],
            "Port 127.0.0.1:23 is not allowed as a tunnel destination",
        ),
        (
            vec!["-r", "--local-port", "22", "--remote-address", "0.0.0.0"],
            "not allowed as a tunnel entrance",
        ),
    ] {
        let mut all = vec!["client", "-s", url.as_str()];
        all.extend(args);
        let mut client = Proc::spawn(bin(), &all);
        let (code, output) = client.wait_exit();
        assert_eq!(code, Some(1), "{output:?}");
        assert!(output.iter().any(|l| l.contains(needle)), "{output:?}");
    }
    // The entrance rule allows any port on 127.0.0.1.
    let (_reverse, entrance) = start_client(port, &["-r", "--local-port", "22"]);
    assert!(is_listening(entrance));
    // Unknown keys survive the server's rewrite.
    assert_eq!(
        read(&path)["allowed_tunnel_entrances"],
        json!({"127.0.0.1": "*"})
    );
}

fn netunnel_1_0_file(proxy_user: &str, proxy_pass: &str) -> Value {
    json!({
        "allowed_tunnel_destinations": {"127.0.0.1": "*"},
        "http_proxy": {"proxy_url": "http://127.0.0.1:3128", "username": proxy_user, "password": proxy_pass},
        "http_proxy_test_url": "https://google.com",
        "peers": [],
        "allow_unverified_ssl_peers": false,
        "revision": 1,
        "secret_key": KEY,
        "some_future_setting": [1, 2, 3]
    })
}

#[test]
fn a_netunnel_1_0_file_with_fernet_credentials_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netunnel.conf");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&netunnel_1_0_file(FERNET_USER, FERNET_PASS)).unwrap(),
    )
    .unwrap();
    let arg = path_arg(&path);
    let (_server, port) = server_with(&["-c", &arg], &[]);
    let (status, body) = http(port, "GET", "/config/http-proxy", None);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"proxy_url": "http://127.0.0.1:3128", "username": "******", "password": "******"})
    );
    // The tokens are kept as they were (1.0.x can still read the file).
    assert_eq!(read(&path), netunnel_1_0_file(FERNET_USER, FERNET_PASS));
    echo_roundtrip(
        start_client(port, &["--remote-port", &echo_server().to_string()]).1,
        1000,
        1,
    );

    // With the wrong key the server refuses to start and names the setting.
    let (code, _, stderr) = run(&["server", "-p", "0", "-c", &arg, "-s", WRONG_KEY]);
    assert_eq!(code, 1);
    assert!(stderr.contains("http_proxy.username"), "{stderr}");
    assert!(!stderr.contains(WRONG_KEY) && !stderr.contains(KEY));
}

#[test]
fn credentials_lost_by_netunnel_1_0_are_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netunnel.conf");
    std::fs::write(&path, netunnel_1_0_file("******", "******").to_string()).unwrap();
    let arg = path_arg(&path);
    let (mut server, port) = server_with(&["-c", &arg], &[]);
    assert!(
        server
            .seen
            .iter()
            .any(|l| l.contains("WARN") && l.contains("http_proxy.username")),
        "{:?}",
        server.seen
    );
    let (status, _) = http(port, "GET", "/version", None);
    assert_eq!(status, 200);
    server.signal("TERM");
    assert_eq!(server.wait_exit().0, Some(0));
}

#[test]
fn http_proxy_routes_store_encrypted_and_show_masked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let arg = path_arg(&path);
    let (server, port) = server_with(&["-c", &arg], &[]);
    assert_eq!(
        http(port, "GET", "/config/http-proxy", None),
        (200, "{}".to_string())
    );

    let body = json!({"proxy_url": "http://127.0.0.1:3128", "username": "alice", "password": "s3cret!", "check_proxy": false});
    let (status, answer) = http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
    let shown: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        shown,
        json!({"proxy_url": "http://127.0.0.1:3128", "username": "******", "password": "******"})
    );
    let stored = read(&path)["http_proxy"].clone();
    for field in ["username", "password"] {
        assert!(
            stored[field].as_str().unwrap().starts_with("ntv1:"),
            "{stored}"
        );
    }
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(!file.contains("alice") && !file.contains("s3cret"));
    assert!(!server.seen.iter().any(|l| l.contains("s3cret")));
    // The key in the file decrypts them.
    let key = read(&path)["secret_key"].as_str().unwrap().to_string();
    let (_, user, _) = run(&[
        "security",
        "decrypt",
        &key,
        stored["username"].as_str().unwrap(),
    ]);
    assert_eq!(user, "alice");

    // A proxy that does not answer is refused and nothing changes.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let before = std::fs::read_to_string(&path).unwrap();
    for body in [
        json!({"proxy_url": dead, "test_url": "http://127.0.0.1:1/"}),
        json!({"proxy_url": dead, "test_url": "https://127.0.0.1:1/"}),
        json!({"proxy_url": "http://127.0.0.1:3128", "username": "only-user", "check_proxy": false}),
        json!({"username": "x"}),
    ] {
        let (status, answer) = http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains("\"error\""), "{answer}");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    // A password inside the URL is masked when shown.
    let body = json!({"proxy_url": "http://bob:hunter2@127.0.0.1:3128", "check_proxy": false});
    let (_, answer) = http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
    assert!(
        !answer.contains("hunter2") && answer.contains("bob:******@"),
        "{answer}"
    );

    let (status, _) = http(
        port,
        "POST",
        "/config/http-proxy",
        Some(r#"{"proxy_url": null}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(read(&path)["http_proxy"], Value::Null);
}

#[test]
fn factory_reset_restores_defaults_and_can_disconnect_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(
        &path,
        json!({"revision": 9, "allowed_tunnel_destinations": {"127.0.0.1": "22"}}).to_string(),
    )
    .unwrap();
    let arg = path_arg(&path);
    let (_server, port) = server_with(&["-c", &arg], &[]);
    let (mut client, _) = start_client(port, &["--remote-port", "22"]);
    let (status, body) = http(port, "POST", "/config/factory-reset", Some("{}"));
    assert_eq!((status, body.as_str()), (200, ""));
    let file = read(&path);
    assert_eq!(file["revision"], 1);
    assert_eq!(
        file["allowed_tunnel_destinations"],
        json!({"127.0.0.1": "*"})
    );
    assert!(
        client.child.try_wait().unwrap().is_none(),
        "client disconnected without being asked"
    );
    let (status, _) = http(
        port,
        "POST",
        "/config/factory-reset",
        Some(r#"{"disconnect_clients": true}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(client.wait_exit().0, Some(1));
}

#[test]
fn security_tool_generates_encrypts_and_decrypts() {
    let (code, key, _) = run(&["security", "generate-key"]);
    assert_eq!(code, 0);
    assert_eq!(key.len(), 44);
    for format in ["gcm", "fernet"] {
        let (code, token, _) = run(&[
            "security",
            "encrypt",
            &key,
            "p@ss w0rd!",
            "--format",
            format,
        ]);
        assert_eq!(code, 0);
        assert!(
            token.starts_with(if format == "gcm" { "ntv1:" } else { "gAAAAA" }),
            "{token}"
        );
        assert_eq!(run(&["security", "decrypt", &key, &token]).1, "p@ss w0rd!");
        let (code, out, err) = run(&["security", "decrypt", WRONG_KEY, &token]);
        assert_eq!(code, 1);
        assert!(out.is_empty() && err.contains("wrong key"), "{err}");
    }
    assert_eq!(
        run(&["security", "decrypt", KEY, FERNET_USER]).1,
        "proxyuser"
    );
    let (code, _, err) = run(&["security", "decrypt", "short", FERNET_USER]);
    assert_eq!(code, 1);
    assert!(err.contains("32 bytes"), "{err}");
}

#[test]
fn config_create_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/netunnel.conf");
    let arg = path_arg(&path);
    let changes = r#"{"allowed_tunnel_destinations": {"127.0.0.1": "22"}}"#;
    let (code, _, err) = run(&["config", "create", &arg, "--custom-changes", changes]);
    assert_eq!(code, 0, "{err}");
    let file = read(&path);
    assert_eq!(
        file["allowed_tunnel_destinations"],
        json!({"127.0.0.1": "22"})
    );
    assert_eq!(file["revision"], 1);
    std::fs::write(&path, json!({"secret_key": KEY}).to_string()).unwrap();
    let (code, _, err) = run(&["config", "create", &arg]);
    assert_eq!(code, 1);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(read(&path)["secret_key"], KEY);
    let (code, _, _) = run(&["config", "create", &arg, "--force"]);
    assert_eq!(code, 0);
    assert!(read(&path).get("secret_key").is_none());
    let (code, _, err) = run(&[
        "config",
        "create",
        &arg,
        "--force",
        "--custom-changes",
        r#"{"peers": 3}"#,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("peers"), "{err}");
}

#[test]
fn config_downgrade_rewrites_secrets_as_fernet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let arg = path_arg(&path);
    let (mut server, port) = server_with(&["-c", &arg], &[]);
    let (_peer, peer_port) = server_with(&[], &[]);
    let peer = json!({"name": "p", "target_netunnel_url": format!("http://127.0.0.1:{peer_port}"), "auth_data": {"token": "t0k"}});
    assert_eq!(http(port, "POST", "/peers", Some(&peer.to_string())).0, 200);
    assert!(read(&path)["peers"][0]["auth_data"]["token"]
        .as_str()
        .unwrap()
        .starts_with("ntv1:"));
    // With the proxy set, peers are reached through it: register the peer first.
    let body = json!({"proxy_url": "http://127.0.0.1:3128", "username": "alice", "password": "s3cret!", "check_proxy": false});
    assert_eq!(
        http(port, "POST", "/config/http-proxy", Some(&body.to_string())).0,
        200
    );
    server.signal("TERM");
    server.wait_exit();
    let (code, out, err) = run(&["config", "downgrade", &arg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 value(s) rewritten"), "{out}");
    let file = read(&path);
    assert_eq!(
        file["peers"][0]["auth_data"]["token"], "t0k",
        "1.0.x reads auth_data in clear"
    );
    let key = file["secret_key"].as_str().unwrap();
    for (field, plain) in [("username", "alice"), ("password", "s3cret!")] {
        let token = file["http_proxy"][field].as_str().unwrap();
        assert!(token.starts_with("gAAAAA"), "{token}");
        assert_eq!(run(&["security", "decrypt", key, token]).1, plain);
    }
    // Our server still reads the downgraded file.
    let (_server, _) = server_with(&["-c", &arg], &[]);
}

#[test]
fn a_crash_while_saving_never_leaves_a_torn_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let arg = path_arg(&path);
    for round in 0..8u64 {
        let (mut server, port) = server_with(&["-c", &arg], &[]);
        let writer = std::thread::spawn(move || {
            for i in 0.. {
                let body = json!({"proxy_url": format!("http://127.0.0.1:{}", 1000 + i), "username": "u", "password": "p", "check_proxy": false});
                let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                let body = body.to_string();
                let request = format!("POST /config/http-proxy HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                use std::io::{Read, Write};
                if stream.write_all(request.as_bytes()).is_err() {
                    return;
                }
                let mut answer = String::new();
                if stream.read_to_string(&mut answer).is_err() || answer.is_empty() {
                    return;
                }
            }
        });
        // Let some saves happen, then kill at a moment that varies per round.
        let saves_before = 5 + round * 7;
        wait_until("saves to happen", || {
            read(&path)["http_proxy"]["proxy_url"]
                .as_str()
                .and_then(|u| u.rsplit(':').next()?.parse::<u64>().ok())
                .is_some_and(|n| n >= 1000 + saves_before)
        });
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        writer.join().unwrap();
        let file = read(&path);
        assert!(file["http_proxy"]["proxy_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    // The next start cleans temporary files a crash left behind.
    let (_server, _) = server_with(&["-c", &arg], &[]);
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        after,
        vec![std::ffi::OsString::from("c.json")],
        "before restart: {leftovers:?}"
    );
}

#[test]
fn proxy_check_goes_through_a_real_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let (_proxy, proxy_port, log) = start_tinyproxy(dir.path(), Some(("alice", "s3cret")));
    let path = dir.path().join("c.json");
    let arg = path_arg(&path);
    let (_server, port) = server_with(&["-c", &arg], &[]);
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    // A GET of an http:// test URL (our own /version) through the proxy.
    let test_url = format!("http://127.0.0.1:{port}/version");
    let body = json!({"proxy_url": proxy_url, "username": "alice", "password": "s3cret", "test_url": test_url});
    let (status, answer) = http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(read(&path)["http_proxy"]["proxy_url"], proxy_url.as_str());
    let proxy_log = std::fs::read_to_string(&log).unwrap();
    assert!(proxy_log.contains("/version"), "{proxy_log}");
    // An https:// test URL is checked with CONNECT.
    let body = json!({"proxy_url": proxy_url, "username": "alice", "password": "s3cret", "test_url": format!("https://127.0.0.1:{port}/")});
    let (status, answer) = http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
    let connect_line = format!("CONNECT 127.0.0.1:{port} ");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains(&connect_line));
    // Wrong credentials: the proxy's refusal is reported, nothing stored.
    let before = std::fs::read_to_string(&path).unwrap();
    let body = json!({"proxy_url": proxy_url, "username": "alice", "password": "wrong", "test_url": test_url});
    let (status, answer) = http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
    assert_eq!(status, 400, "{answer}");
    // tinyproxy answers 401 to bad proxy credentials, most proxies 407.
    assert!(answer.contains("401") || answer.contains("407"), "{answer}");
    let body = json!({"proxy_url": proxy_url, "username": "alice", "password": "wrong", "test_url": format!("https://127.0.0.1:{port}/")});
    let (status, answer) = http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("401") || answer.contains("407"), "{answer}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

/// A third of the 64 base64 characters are not letters; `-` starts about one
/// generated key in 64, and such a key must work everywhere a key is taken.
#[test]
fn keys_starting_with_a_hyphen_are_accepted() {
    const HYPHEN_KEY: &str = "-AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let (code, token, err) = run(&[
        "security", "encrypt", HYPHEN_KEY, "-x", "--format", "fernet",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run(&["security", "decrypt", HYPHEN_KEY, &token]).1, "-x");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let arg = path_arg(&path);
    let (mut server, _) = server_with(&["-c", &arg, "-s", HYPHEN_KEY], &[]);
    server.signal("TERM");
    assert_eq!(server.wait_exit().0, Some(0));
    let (code, _, err) = run(&["config", "downgrade", &arg, "-s", HYPHEN_KEY]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_folder_anyone_can_write_to_is_refused_and_a_sticky_one_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = open.join("netunnel.conf");
    let mut server = Proc::spawn(bin(), &["server", "-p", "0", "-c", &path_arg(&path)]);
    let (code, output) = server.wait_exit();
    assert_eq!(code, Some(1), "{output:?}");
    let error = error_line(&output);
    assert!(error.contains("every user may write to"), "{error}");
    assert!(
        error.contains(&format!("chmod o-w {}", open.display())),
        "{error}"
    );
    assert!(!path.exists(), "the file was written");

    let sticky = dir.path().join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = sticky.join("netunnel.conf");
    let (server, _) = server_with(&["-c", &path_arg(&path)], &[]);
    assert!(
        server
            .seen
            .iter()
            .any(|l| l.contains("a folder every user may add files to")),
        "{:?}",
        server.seen
    );
    assert!(path.exists());
}
