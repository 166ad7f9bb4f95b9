//! What each fuzz target checks, on any bytes: no panic, and a property of
//! the parser where one holds. The targets in `fuzz_targets/` call these;
//! `netunnel-core/tests/fuzz_inputs.rs` runs them over every seed and every
//! input that once failed (`regressions/`), so each is also a plain test.
//! Only `netunnel-core`'s public API is used.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use netunnel_core::config::address::{self, Requested};
use netunnel_core::config::{AllowList, ConfigStore};
use netunnel_core::secret::{SecretKey, TokenFormat};
use netunnel_core::wire::{
    ControlFrame, CreateTunnel, HttpProxyRequest, NewPeer, NewStaticTunnel, PeerChanges,
    ResponseHead,
};

/// What a target checks on one input.
pub type Check = fn(&[u8]);

/// The targets, by name: the name of the binary and of its seed folder.
pub const TARGETS: [(&str, Check); 6] = [
    ("control_document", control_document),
    ("rest_body", rest_body),
    ("config_file", config_file),
    ("token", token),
    ("response_head", response_head),
    ("destination", destination),
];

/// A fixed secret key (the urlsafe base64 of 32 bytes).
const KEY: &str = "S2V5Rm9yRnV6emluZ09ubHlOb3RBUmVhbFNlY3JldCE=";

/// A control-channel frame: what decodes, encodes into bytes that decode
/// into the same frame (compared as bytes, so a NaN in `data` is equal).
pub fn control_document(data: &[u8]) {
    if let Ok(frame) = ControlFrame::decode(data) {
        let once = frame.encode();
        let again = ControlFrame::decode(&once).expect("what we encode decodes");
        assert_eq!(again.encode(), once, "{frame:?} changed on a round trip");
    }
}

/// Every REST body parser, on the JSON value the bytes hold (a server reads
/// each body as JSON first). A proxy request's debug text does not depend
/// on its credentials.
pub fn rest_body(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = CreateTunnel::from_json(&body);
    let _ = NewPeer::from_json(&body);
    let _ = PeerChanges::from_json(&body);
    let _ = NewStaticTunnel::from_json(&body);
    if let Ok(request) = HttpProxyRequest::from_json(&body) {
        let mut other = request.clone();
        other.username = other.username.map(|_| "someone else".into());
        other.password = other.password.map(|_| "another password".into());
        assert_eq!(
            format!("{request:?}"),
            format!("{other:?}"),
            "the debug text shows the credentials"
        );
    }
}

/// A folder for configuration files, in memory where the system has one
/// (every load writes and syncs the file).
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary folder");
        let file = dir.path().join("netunnel.conf");
        (dir, file)
    })
    .1
}

/// A configuration file, loaded as the server loads it: a file that loads
/// is written back in a form that loads again; one that does not is left
/// exactly as it was.
pub fn config_file(data: &[u8]) {
    let path = scratch();
    let written = std::fs::File::create(path).and_then(|mut file| file.write_all(data));
    if written.is_err() {
        return;
    }
    let no_env = |_: &str| None;
    match ConfigStore::open(Some(path), Some(KEY), &no_env) {
        Ok(store) => {
            drop(store);
            let rewritten = std::fs::read(path).expect("the file is there");
            if let Err(err) = ConfigStore::open(Some(path), Some(KEY), &no_env) {
                panic!(
                    "what the server wrote does not load again: {err}\n{}",
                    String::from_utf8_lossy(&rewritten)
                );
            }
        }
        Err(_) => {
            let left = std::fs::read(path).expect("the file is there");
            assert_eq!(left, data, "a file that did not load was changed");
        }
    }
}

/// A token from a configuration file (either format): decrypting never
/// panics; and the bytes themselves, encrypted in each format, decrypt back.
pub fn token(data: &[u8]) {
    let key = SecretKey::parse(KEY).expect("a valid key");
    let _ = key.decrypt_bytes(&String::from_utf8_lossy(data));
    for format in [TokenFormat::Gcm, TokenFormat::Fernet] {
        let token = key.encrypt_bytes(data, format).expect("encrypt");
        assert!(SecretKey::is_token(&token));
        assert_eq!(key.decrypt_bytes(&token).expect("decrypt"), data);
    }
}

/// The head of an HTTP answer (a server's websocket upgrade, a proxy's
/// `CONNECT`): what parses has a three-digit status.
pub fn response_head(data: &[u8]) {
    if let Ok(head) = ResponseHead::parse(data, "the server") {
        assert!((100..1000).contains(&head.status), "{head:?}");
    }
}

/// A destination `address:port` against the allow list before the first
/// newline (JSON), and against two fixed lists whose meaning is known:
/// nothing gets around them.
pub fn destination(data: &[u8]) {
    let (list, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"{}"[..], data),
    };
    let text = String::from_utf8_lossy(rest);
    let (address, port) = match text.rsplit_once(':') {
        Some((address, port)) => (address, port.parse().unwrap_or(22)),
        None => (&*text, 22),
    };
    if let Ok(list) = serde_json::from_slice::<AllowList>(list) {
        let _ = list.validate();
        let _ = list.check(address, port);
        let _ = list.check_as(address, port, "entrance");
    }
    let parsed = address::parse(address);

    // NETunnel's default: only the text `127.0.0.1` itself.
    if AllowList::default().check(address, port).is_ok() {
        assert_eq!(address, "127.0.0.1");
    }
    // A range allows the IP addresses it covers, however they are written,
    // and no name (names are resolved and checked by the server).
    let range: AllowList = serde_json::from_str(r#"{"10.0.0.0/8": "22"}"#).expect("a list");
    if range.check(address, port).is_ok() {
        assert_eq!(port, 22);
        match parsed {
            Ok(Requested::Ip(IpAddr::V4(ip))) => assert_eq!(ip.octets()[0], 10, "{address}"),
            other => panic!("{address:?} ({other:?}) passed a range"),
        }
    }
}
