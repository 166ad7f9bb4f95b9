//! Bad input on every REST route: malformed or wrongly typed bodies, ids that
//! do not exist or are not numbers, unknown methods, garbage on the socket.
//! Each gets a 4xx with a JSON `error` (never a 500 or a dropped
//! connection), and the server goes on serving.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};

use support::{http, start_server};

/// Bodies a client may send by mistake or on purpose.
const BODIES: [&str; 12] = [
    "",
    "not json",
    "{",
    "[]",
    "null",
    "42",
    "\"text\"",
    "{}",
    "{\"name\": 5, \"target_netunnel_url\": [], \"auth_data\": \"x\"}",
    "{\"exit_address\": null, \"exit_port\": -5, \"reverse\": \"no\"}",
    "{\"tunnel_remote_port\": 99999999999999999999, \"tunnel_remote_address\": {}}",
    "{\"proxy_url\": 7, \"username\": [], \"check_proxy\": \"yes\", \"disconnect_clients\": 3}",
];

/// Ids that do not exist or are not ids.
const IDS: [&str; 6] = ["999", "0", "-1", "abc", "99999999999999999999999", "1.5"];

fn assert_refused(port: u16, method: &str, path: &str, body: Option<&str>) {
    let (status, answer) = http(port, method, path, body);
    assert!(
        (400..500).contains(&status),
        "{method} {path} {body:?}: {status} {answer}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&answer)
        .unwrap_or_else(|_| panic!("{method} {path} {body:?}: not JSON: {answer}"));
    assert!(
        parsed.get("error").is_some_and(|e| e.is_string()),
        "{method} {path}: {answer}"
    );
}

#[test]
fn every_route_refuses_bad_input_with_a_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("netunnel.conf");
    let (_server, port) = start_server(&["-c", config.to_str().unwrap()]);
    // A real channel and peer, so that routes under them are reached too.
    let (status, body) = http(port, "POST", "/channels", Some("{\"version\": \"1.0.13\"}"));
    assert_eq!(status, 200, "{body}");
    let cid = serde_json::from_str::<serde_json::Value>(&body).unwrap()["channel_id"]
        .as_u64()
        .unwrap();
    // Its control websocket, held open for the test (a channel not yet
    // connected makes routes under it wait a moment for the upgrade).
    let mut control = support::connect(port);
    write!(
        control,
        "GET /channels/{cid}/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    control.read_exact(&mut head).unwrap();
    assert_eq!(
        &head, b"HTTP/1.1 101",
        "the channel's websocket was not accepted"
    );
    let self_url = format!("http://127.0.0.1:{port}");
    let peer = serde_json::json!({"name": "self", "target_netunnel_url": self_url}).to_string();
    let (status, body) = http(port, "POST", "/peers", Some(&peer));
    assert_eq!(status, 200, "{body}");
    let pid = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap();

    let with_body: Vec<(&str, String)> = vec![
        ("POST", "/channels".into()),
        ("POST", format!("/channels/{cid}/tunnels")),
        ("POST", "/peers".into()),
        ("POST", format!("/peers/{pid}")),
        ("POST", format!("/peers/{pid}/static_tunnels")),
        ("POST", "/config/http-proxy".into()),
    ];
    let update = format!("/peers/{pid}");
    for (method, path) in &with_body {
        for body in BODIES {
            if *path == update && (body.is_empty() || body == "{}") {
                // Changing nothing is a valid update (answered with the peer).
                continue;
            }
            assert_refused(port, method, path, Some(body));
        }
    }
    for id in IDS {
        for (method, path) in [
            ("POST", format!("/channels/{id}/tunnels")),
            ("DELETE", format!("/channels/{cid}/tunnels/{id}")),
            ("DELETE", format!("/channels/{id}/tunnels/1")),
            ("GET", format!("/channels/{id}/connect")),
            ("GET", format!("/channels/{cid}/tunnels/{id}/connect")),
            ("GET", format!("/peers/{id}")),
            ("POST", format!("/peers/{id}")),
            ("DELETE", format!("/peers/{id}")),
            ("GET", format!("/peers/{id}/static_tunnels")),
            ("GET", format!("/peers/{pid}/static_tunnels/{id}")),
            ("DELETE", format!("/peers/{pid}/static_tunnels/{id}")),
        ] {
            let body = serde_json::json!({"exit_address": "127.0.0.1", "exit_port": 22, "reverse": false, "name": "x", "tunnel_remote_port": 22}).to_string();
            assert_refused(port, method, &path, Some(&body));
        }
    }
    for (method, path) in [
        ("PATCH", "/peers"),
        ("PUT", "/channels"),
        ("GET", "/channels"),
        ("DELETE", "/version"),
        ("GET", "/no/such/route"),
        ("GET", "/peers/1/static_tunnels/1/extra"),
    ] {
        assert_refused(port, method, path, None);
    }

    // Garbage on the socket: the connection ends, the server goes on.
    for garbage in [
        &b"\x00\x01\x02\xff\xfe garbage \r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ] {
        let mut stream = support::connect(port);
        let _ = stream.write_all(garbage);
        // Nothing more comes: the server must end the connection, not wait.
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let started = std::time::Instant::now();
        let _ = stream.read_to_end(&mut answer);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the server held a dead connection"
        );
    }
    let (status, body) = http(port, "GET", "/version", None);
    assert_eq!(status, 200, "{body}");
    // The real peer and channel are unharmed.
    let (status, body) = http(port, "GET", &format!("/peers/{pid}"), None);
    assert_eq!(status, 200, "{body}");
    drop(control);
}
