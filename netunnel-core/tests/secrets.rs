//! Secrets never reach a log, at any level: the server and the client run
//! with every crate logging at `trace` while the secret key, an
//! authentication secret, its tokens, a proxy password and a peer's
//! auth_data are all in use.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::process::Command;

use base64::Engine;
use support::{bin, echo_roundtrip, echo_server, port_of, start_tinyproxy, Proc};

const KEY: &str = "TWO4jDx9KyW2IT1sPQpebt9LuwF1tNyNZD6ADQjtl0E=";
const AUTH_SECRET: &str = "authsecretq7w3e9r1";
const PROXY_USER: &str = "proxyuserk3j6";
const PROXY_PASSWORD: &str = "proxypassm4n7b1";

fn traced(args: &[&str]) -> Proc {
    Proc::spawn_with(
        Command::new(bin())
            .args(args)
            .env("NETUNNEL_LOG", "trace")
            .env("RUST_BACKTRACE", "0"),
    )
}

#[test]
fn no_secret_reaches_a_trace_log() {
    let dir = tempfile::tempdir().unwrap();
    let echo = echo_server();
    let (_proxy, proxy_port, _log) =
        start_tinyproxy(dir.path(), Some((PROXY_USER, PROXY_PASSWORD)));
    let config = dir.path().join("netunnel.conf");
    let server_auth = format!("{{\"secret\": \"{AUTH_SECRET}\"}}");
    let mut server = traced(&[
        "server",
        "-p",
        "0",
        "-c",
        config.to_str().unwrap(),
        "-s",
        KEY,
        "--auth-plugin",
        "secret",
        "--auth-data",
        &server_auth,
    ]);
    let port = port_of(&server.wait_line("Starting server on"));
    let url = format!("http://127.0.0.1:{port}");
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let echo_text = echo.to_string();
    let client_args = [
        "client",
        "-s",
        url.as_str(),
        "--auth-plugin",
        "secret",
        "--auth-data",
        server_auth.as_str(),
        "--proxy-url",
        proxy_url.as_str(),
        "--proxy-username",
        PROXY_USER,
        "--proxy-password",
        PROXY_PASSWORD,
        "--remote-port",
        echo_text.as_str(),
    ];
    let mut client = traced(&client_args);
    let entrance = port_of(&client.wait_line("Tunnel entrance socket"));
    echo_roundtrip(entrance, 100_000, 7);
    // A peer whose auth_data holds the secret, registered through the API;
    // the server checks it by authenticating to itself.
    let peer_auth = server_auth.clone();
    let mut peers = traced(&[
        "peers",
        "-s",
        url.as_str(),
        "--auth-plugin",
        "secret",
        "--auth-data",
        server_auth.as_str(),
        "add",
        "self",
        url.as_str(),
        "--peer-auth-data",
        peer_auth.as_str(),
    ]);
    let (code, _) = peers.wait_exit();
    assert_eq!(code, Some(0), "{:?}", peers.seen);
    client.signal("INT");
    let (_, client_lines) = client.wait_exit();
    server.signal("INT");
    let (_, server_lines) = server.wait_exit();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"));
    let everything: Vec<&String> = server_lines
        .iter()
        .chain(&client_lines)
        .chain(&peers.seen)
        .collect();
    assert!(
        everything.iter().any(|line| line.contains(" DEBUG]")),
        "NETUNNEL_LOG=trace did not reach the loggers"
    );
    for line in everything {
        for secret in [KEY, AUTH_SECRET, PROXY_PASSWORD, basic.as_str()] {
            assert!(!line.contains(secret), "a secret in a log line: {line}");
        }
        assert!(!has_token(line), "a token in a log line: {line}");
    }
}

/// Whether `line` holds something shaped like a `secret` plugin token:
/// base64url of 20 bytes, a dot, base64url of 32 bytes.
fn has_token(line: &str) -> bool {
    let bytes = line.as_bytes();
    let b64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    bytes.iter().enumerate().any(|(dot, b)| {
        *b == b'.'
            && dot >= 27
            && bytes.len() >= dot + 44
            && bytes[dot - 27..dot].iter().all(b64)
            && bytes[dot + 1..dot + 44].iter().all(b64)
    })
}

#[test]
fn the_token_shape_is_recognised() {
    let token = format!("{}.{}", "A".repeat(27), "b".repeat(43));
    assert!(has_token(&format!("Authorization: Bearer {token}")));
    assert!(!has_token("connected to http://127.0.0.1:4040"));
}
