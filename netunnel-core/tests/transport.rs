//! Getting through real networks: an HTTP proxy (tinyproxy), TLS on our own
//! server, and nginx in front of it with TLS and a path prefix.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::process::Command;

use support::*;

/// Starts `netunnel client` with `args` plus environment; returns it and the entrance port.
fn client_with_env(args: &[&str], env: &[(&str, &str)]) -> (Proc, u16) {
    let mut command = Command::new(bin());
    command.arg("client").args(args);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(var);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut client = Proc::spawn_with(&mut command);
    let line = client.wait_line("Tunnel entrance socket:");
    (client, port_of(&line))
}

fn failing_client(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut command = Command::new(bin());
    command
        .arg("client")
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut client = Proc::spawn_with(&mut command);
    let (code, output) = client.wait_exit();
    assert_eq!(code, Some(1), "{output:?}");
    output
}

fn connects_logged(log: &std::path::Path, port: u16) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.matches(&format!("CONNECT 127.0.0.1:{port} ")).count()
}

#[test]
fn tunnels_through_an_http_proxy_with_and_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let echo = echo_server().to_string();
    let (_server, port) = start_server(&[]);
    let url = format!("http://127.0.0.1:{port}");
    for credentials in [None, Some(("alice", "s3cret"))] {
        let (_proxy, proxy_port, log) = start_tinyproxy(dir.path(), credentials);
        let proxy_url = format!("http://127.0.0.1:{proxy_port}");
        let mut args = vec!["-s", url.as_str(), "--proxy-url", proxy_url.as_str()];
        if let Some((user, pass)) = credentials {
            args.extend(["--proxy-username", user, "--proxy-password", pass]);
        }
        let mut forward = args.clone();
        forward.extend(["--remote-port", echo.as_str()]);
        let (_client, entrance) = client_with_env(&forward, &[]);
        echo_roundtrip(entrance, 1 << 20, 1);
        let mut reverse = args.clone();
        reverse.extend(["-r", "--local-port", echo.as_str()]);
        let (_client, entrance) = client_with_env(&reverse, &[]);
        echo_roundtrip(entrance, 1 << 20, 2);
        // Every REST call and websocket went through CONNECT.
        assert!(
            connects_logged(&log, port) >= 6,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
    }
}

#[test]
fn proxy_from_the_environment_and_no_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let echo = echo_server().to_string();
    let (_server, port) = start_server(&[]);
    let (_proxy, proxy_port, log) = start_tinyproxy(dir.path(), Some(("bob", "hunter2")));
    let url = format!("http://127.0.0.1:{port}");
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    // The password comes from the environment, out of `ps`.
    let env = [
        ("HTTP_PROXY", proxy_url.as_str()),
        ("NETUNNEL_PROXY_PASSWORD", "hunter2"),
    ];
    let (_client, entrance) = client_with_env(
        &[
            "-s",
            &url,
            "--remote-port",
            &echo,
            "--proxy-username",
            "bob",
        ],
        &env,
    );
    echo_roundtrip(entrance, 10_000, 3);
    let through_proxy = connects_logged(&log, port);
    assert!(through_proxy >= 2);
    let env = [
        ("HTTP_PROXY", proxy_url.as_str()),
        ("NO_PROXY", "localhost,127.0.0.1"),
    ];
    let (_client, entrance) = client_with_env(&["-s", &url, "--remote-port", &echo], &env);
    echo_roundtrip(entrance, 10_000, 4);
    assert_eq!(
        connects_logged(&log, port),
        through_proxy,
        "NO_PROXY was not honoured"
    );
}

#[test]
fn proxy_refusals_and_bad_flags_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_server(&[]);
    let (_proxy, proxy_port, _) = start_tinyproxy(dir.path(), Some(("alice", "s3cret")));
    let url = format!("http://127.0.0.1:{port}");
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let output = failing_client(
        &[
            "-s",
            &url,
            "--proxy-url",
            &proxy_url,
            "--proxy-username",
            "alice",
            "--proxy-password",
            "wrong",
        ],
        &[],
    );
    let last = &error_line(&output);
    assert!(
        last.contains("proxy") && (last.contains("401") || last.contains("407")),
        "{output:?}"
    );
    assert!(
        !output.iter().any(|l| l.contains("wrong")),
        "password in the output: {output:?}"
    );
    let output = failing_client(&["-s", &url, "--proxy-url", &proxy_url], &[]);
    assert!(
        &error_line(&output).contains("refused CONNECT"),
        "{output:?}"
    );
    let output = failing_client(
        &[
            "-s",
            &url,
            "--proxy-url",
            &proxy_url,
            "--proxy-username",
            "alice",
        ],
        &[],
    );
    assert!(
        &error_line(&output).contains("needs a password"),
        "{output:?}"
    );
    let output = failing_client(
        &[
            "-s",
            &url,
            "--proxy-url",
            &proxy_url,
            "--proxy-password",
            "x",
        ],
        &[],
    );
    assert!(
        &error_line(&output).contains("needs --proxy-username"),
        "{output:?}"
    );
    // Credentials inside the proxy URL never show.
    let secret_url = format!("http://alice:wrong-pass@127.0.0.1:{proxy_port}");
    let output = failing_client(&["-s", &url, "--proxy-url", &secret_url, "-d"], &[]);
    assert!(
        !output.iter().any(|l| l.contains("wrong-pass")),
        "{output:?}"
    );
}

#[test]
fn https_to_our_own_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let echo = echo_server().to_string();
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let (_server, port) = start_server(&["--tls-cert", cert, "--tls-key", key]);
    let url = format!("https://127.0.0.1:{port}");
    let ca = pki.ca.to_str().unwrap();
    let (_client, entrance) =
        client_with_env(&["-s", &url, "--ca-cert", ca, "--remote-port", &echo], &[]);
    echo_roundtrip(entrance, 4 << 20, 5);
    let (_client, entrance) = client_with_env(
        &["-s", &url, "--ca-cert", ca, "-r", "--local-port", &echo],
        &[],
    );
    echo_roundtrip(entrance, 4 << 20, 6);
    // SSL_CERT_FILE is honoured as the trust store.
    let (_client, entrance) = client_with_env(
        &["-s", &url, "--remote-port", &echo],
        &[("SSL_CERT_FILE", ca)],
    );
    echo_roundtrip(entrance, 1000, 7);
    let (_client, entrance) = client_with_env(
        &["-s", &url, "--no-ssl-validate", "--remote-port", &echo],
        &[],
    );
    echo_roundtrip(entrance, 1000, 8);
    let output = failing_client(
        &["-s", &url, "--remote-port", &echo],
        &[("SSL_CERT_FILE", "/dev/null")],
    );
    let last = &error_line(&output);
    assert!(
        last.contains("not trusted") && last.contains("--no-ssl-validate"),
        "{output:?}"
    );
    // Plain HTTP to the TLS port fails cleanly too.
    let plain = format!("http://127.0.0.1:{port}");
    failing_client(&["-s", &plain, "--remote-port", &echo], &[]);
}

#[test]
fn behind_nginx_with_tls_and_a_path_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let echo = echo_server().to_string();
    let (_server, port) = start_server(&[]);
    let (_nginx, nginx_port) = start_nginx(dir.path(), port, &pki);
    let url = format!("https://127.0.0.1:{nginx_port}/netunnel");
    let ca = pki.ca.to_str().unwrap();
    let (_client, entrance) =
        client_with_env(&["-s", &url, "--ca-cert", ca, "--remote-port", &echo], &[]);
    echo_roundtrip(entrance, 4 << 20, 9);
    let (_client, entrance) = client_with_env(
        &["-s", &url, "--ca-cert", ca, "-r", "--local-port", &echo],
        &[],
    );
    echo_roundtrip(entrance, 4 << 20, 10);
    let streams: Vec<_> = (0..50).map(|_| connect(entrance)).collect();
    for (i, mut stream) in streams.into_iter().enumerate() {
        use std::io::{Read, Write};
        stream.write_all(&[i as u8; 10]).unwrap();
        let mut back = [0u8; 10];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(back, [i as u8; 10]);
    }
}

#[test]
fn peers_over_https_follow_allow_unverified_ssl_peers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let echo = echo_server();
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let (_peer, peer_port) = start_server(&["--tls-cert", cert, "--tls-key", key]);
    let peer = serde_json::json!({"name": "tls", "target_netunnel_url": format!("https://127.0.0.1:{peer_port}"), "auth_data": {}});
    for (allow, expected) in [(false, 400), (true, 200)] {
        let config = dir.path().join(format!("holder-{allow}.json"));
        std::fs::write(
            &config,
            serde_json::json!({"allow_unverified_ssl_peers": allow}).to_string(),
        )
        .unwrap();
        let (_holder, port) = start_server(&["-c", config.to_str().unwrap()]);
        let (status, answer) = http(port, "POST", "/peers", Some(&peer.to_string()));
        assert_eq!(status, expected, "{answer}");
        if allow {
            let body = serde_json::json!({"tunnel_remote_port": echo}).to_string();
            let (status, answer) = http(port, "POST", "/peers/1/static_tunnels", Some(&body));
            assert_eq!(status, 200, "{answer}");
            let tunnel: serde_json::Value = serde_json::from_str(&answer).unwrap();
            // Static tunnels of this holder pick ports from the default range.
            echo_roundtrip(
                tunnel["tunnel_local_port"].as_u64().unwrap() as u16,
                10_000,
                11,
            );
        } else {
            assert!(answer.contains("not trusted"), "{answer}");
        }
    }
}
