//! Authentication plugins through the real binary: the built-in `secret`
//! plugin on servers, clients and peers.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;

use serde_json::{json, Value};
use support::*;

const SECRET: &str = "change-me-to-a-long-random-string";

fn example(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/secret-auth")
        .join(file);
    path.to_str().unwrap().to_string()
}

fn secured_server(extra: &[&str]) -> (Proc, u16) {
    let data = example("server-auth.json");
    let mut args = vec!["--auth-plugin", "secret", "--auth-data-file", data.as_str()];
    args.extend_from_slice(extra);
    start_server(&args)
}

/// A raw request with websocket-upgrade headers; returns the status line's code.
fn upgrade_status(port: u16, path: &str) -> u16 {
    let mut stream = connect(port);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[test]
fn every_route_refuses_unauthenticated_requests() {
    let (_server, port) = secured_server(&[]);
    let routes = [
        ("GET", "/version"),
        ("POST", "/channels"),
        ("POST", "/channels/1/tunnels"),
        ("DELETE", "/channels/1/tunnels/1"),
        ("GET", "/peers"),
        ("POST", "/peers"),
        ("GET", "/peers/1"),
        ("POST", "/peers/1"),
        ("DELETE", "/peers/1"),
        ("GET", "/peers/1/static_tunnels"),
        ("POST", "/peers/1/static_tunnels"),
        ("GET", "/peers/1/static_tunnels/1"),
        ("DELETE", "/peers/1/static_tunnels/1"),
        ("GET", "/config/http-proxy"),
        ("POST", "/config/http-proxy"),
        ("POST", "/config/factory-reset"),
    ];
    for (method, path) in routes {
        let (status, body) = http(port, method, path, Some("{}"));
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(
            serde_json::from_str::<Value>(&body).is_err(),
            "403 body is JSON: {body}"
        );
    }
    for path in ["/channels/1/connect", "/channels/1/tunnels/1/connect"] {
        assert_eq!(upgrade_status(port, path), 403, "{path}");
    }
    // /authenticate itself is open, and refuses a bad proof.
    let (status, body) = http(port, "POST", "/authenticate", Some(r#"{"proof": "x"}"#));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("authentication failed"), "{body}");
}

#[test]
fn the_right_secret_opens_tunnels_and_a_wrong_one_is_refused() {
    let echo = echo_server().to_string();
    let (mut server, port) = secured_server(&["-d"]);
    let data = example("client-auth.json");
    let auth = ["--auth-plugin", "secret", "--auth-data-file", data.as_str()];
    let mut args = auth.to_vec();
    args.extend(["--remote-port", echo.as_str()]);
    let (mut client, entrance) = start_client(port, &args);
    echo_roundtrip(entrance, 1 << 20, 1);
    let mut args = auth.to_vec();
    args.extend(["-r", "--local-port", echo.as_str()]);
    let (_reverse, entrance) = start_client(port, &args);
    echo_roundtrip(entrance, 1 << 20, 2);

    let url = format!("http://127.0.0.1:{port}");
    let mut wrong = Proc::spawn(
        bin(),
        &[
            "client",
            "-s",
            &url,
            "--auth-plugin",
            "secret",
            "--auth-data",
            r#"{"secret": "nope"}"#,
            "--remote-port",
            &echo,
        ],
    );
    let (code, output) = wrong.wait_exit();
    assert_eq!(code, Some(1));
    assert!(
        &error_line(&output).contains("authentication failed"),
        "{output:?}"
    );
    assert!(
        !output.iter().any(|l| l.contains("nope")),
        "the secret was printed: {output:?}"
    );
    let mut none = Proc::spawn(bin(), &["client", "-s", &url, "--remote-port", &echo]);
    let (code, output) = none.wait_exit();
    assert_eq!(code, Some(1));
    assert!(&error_line(&output).contains("403"), "{output:?}");

    // Neither side logs the secret or a token.
    client.signal("INT");
    client.wait_exit();
    server.signal("TERM");
    let (_, lines) = server.wait_exit();
    for line in lines.iter().chain(client.seen.iter()) {
        assert!(!line.contains(SECRET) && !line.contains("Bearer"), "{line}");
    }
}

#[test]
fn an_expired_token_is_renewed_without_dropping_open_tunnels() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("server.json");
    // Tokens live 6 s; clients renew 5 s before expiry, so after about 1 s.
    std::fs::write(
        &server_data,
        json!({"secret": SECRET, "token_ttl": 6}).to_string(),
    )
    .unwrap();
    let (mut server, port) = start_server(&[
        "-d",
        "--auth-plugin",
        "secret",
        "--auth-data-file",
        server_data.to_str().unwrap(),
    ]);
    let echo = echo_server().to_string();
    let data = example("client-auth.json");
    let (_client, entrance) = start_client(
        port,
        &[
            "--auth-plugin",
            "secret",
            "--auth-data-file",
            &data,
            "--remote-port",
            &echo,
        ],
    );
    server.wait_line("issued a token");
    let mut held = connect(entrance);
    held.write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    held.read_exact(&mut buf).unwrap();
    // Let the client's token age past its renewal point, then make it open new
    // websockets: a burst of concurrent connections needs more spares.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let burst: Vec<_> = (0..20).map(|_| connect(entrance)).collect();
    for (i, mut stream) in burst.into_iter().enumerate() {
        stream.write_all(&[i as u8; 8]).unwrap();
        let mut back = [0u8; 8];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(back, [i as u8; 8]);
    }
    server.wait_line("issued a token");
    held.write_all(b"after!").unwrap();
    held.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after!");
}

#[test]
fn peers_authenticate_with_their_auth_data() {
    let dir = tempfile::tempdir().unwrap();
    let echo = echo_server();
    let peer_data = dir.path().join("peer.json");
    std::fs::write(&peer_data, json!({"secret": "peer-secret"}).to_string()).unwrap();
    let (_peer, peer_port) = start_server(&[
        "--auth-plugin",
        "secret",
        "--auth-data-file",
        peer_data.to_str().unwrap(),
    ]);
    let config = dir.path().join("holder.json");
    std::fs::write(
        &config,
        json!({"static_tunnel_local_ports": static_port_range()}).to_string(),
    )
    .unwrap();
    let (_holder, port) = secured_server(&["-c", config.to_str().unwrap()]);
    let url = format!("http://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let data = example("client-auth.json");
    let peers = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args([
                "peers",
                "-s",
                &url,
                "--auth-plugin",
                "secret",
                "--auth-data-file",
                &data,
            ])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, _, err) = peers(&[
        "add",
        "p",
        &peer_url,
        "--peer-auth-data",
        r#"{"secret": "wrong"}"#,
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Failed to connect with peer `p`"), "{err}");
    assert_eq!(peers(&["list"]).1.trim(), "[]", "a refused peer was stored");

    let (code, out, err) = peers(&[
        "add",
        "p",
        &peer_url,
        "--peer-auth-data",
        r#"{"secret": "peer-secret"}"#,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("******") && !out.contains("peer-secret"),
        "{out}"
    );
    let stored = std::fs::read_to_string(&config).unwrap();
    assert!(!stored.contains("peer-secret"), "auth_data stored in clear");
    let echo_arg = echo.to_string();
    let (code, out, err) = peers(&["add-tunnel", "p", "--remote-port", &echo_arg]);
    assert_eq!(code, Some(0), "{err}");
    let tunnel: Value = serde_json::from_str(&out).unwrap();
    echo_roundtrip(
        tunnel["tunnel_local_port"].as_u64().unwrap() as u16,
        50_000,
        3,
    );
}

#[test]
fn unknown_plugins_are_clear_errors() {
    let mut server = Proc::spawn(bin(), &["server", "-p", "0", "--auth-plugin", "kerberos"]);
    let (code, output) = server.wait_exit();
    assert_eq!(code, Some(1));
    let last = &error_line(&output);
    assert!(
        last.contains("unknown authentication plugin `kerberos`") && last.contains("none, secret"),
        "{last}"
    );
    let mut python = Proc::spawn(
        bin(),
        &[
            "server",
            "-p",
            "0",
            "--auth-plugin",
            "mycompany.auth.Plugin",
        ],
    );
    let (code, output) = python.wait_exit();
    assert_eq!(code, Some(1));
    assert!(&error_line(&output).contains("Python"), "{output:?}");
    let mut missing = Proc::spawn(
        bin(),
        &[
            "server",
            "-p",
            "0",
            "--auth-plugin",
            "secret",
            "--auth-data",
            "{}",
        ],
    );
    let (code, output) = missing.wait_exit();
    assert_eq!(code, Some(1));
    assert!(&error_line(&output).contains("secret"), "{output:?}");
}
