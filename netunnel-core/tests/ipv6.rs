//! IPv6 end to end through the real binary, on `::1`: a server listening on
//! `::`, `[::1]` server URLs, tunnel ends on IPv6 addresses, IPv6 entries in
//! `allowed_tunnel_destinations`, and a peer with a static tunnel.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::{json, Value};
use support::*;

/// An echo service on `[::1]`.
fn echo_v6() -> u16 {
    let listener = TcpListener::bind("[::1]:0").expect("bind [::1]");
    let port = listener.local_addr().unwrap().port();
    echo_on(listener);
    port
}

fn write_config(dir: &Path, name: &str, config: Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, config.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

/// One `GET /version` over `host`; returns the status line.
fn version_status(host: &str, port: u16) -> String {
    let mut stream = connect_to(host, port);
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_string()
}

/// `netunnel client -s http://[::1]:PORT args...`; returns it and its entrance line.
fn client_v6(server_port: u16, args: &[&str]) -> (Proc, String) {
    start_client_at(&format!("http://[::1]:{server_port}"), args)
}

#[test]
fn a_server_on_all_addresses_carries_forward_and_reverse_tunnels_over_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "server.json",
        json!({"allowed_tunnel_destinations": {"::1/128": "*"}}),
    );
    let (_server, port) = start_server(&["--hostname", "::", "-c", &config]);
    // `::` takes IPv4 too (Linux's dual-stack default).
    assert!(version_status("::1", port).contains(" 200 "));
    assert!(version_status("127.0.0.1", port).contains(" 200 "));
    let echo = echo_v6();

    let echo_text = echo.to_string();
    let (_forward, entrance) = client_v6(
        port,
        &[
            "--local-address",
            "::1",
            "--local-port",
            "0",
            "--remote-address",
            "::1",
            "--remote-port",
            &echo_text,
        ],
    );
    assert!(entrance.contains("[::1]:"), "{entrance}");
    echo_roundtrip_to("::1", port_of(&entrance), 4 << 20, 61);

    let (_reverse, entrance) = client_v6(
        port,
        &[
            "--reverse",
            "--local-address",
            "::1",
            "--local-port",
            &echo_text,
            "--remote-address",
            "::1",
            "--remote-port",
            "0",
        ],
    );
    assert!(entrance.contains("[::1]:"), "{entrance}");
    echo_roundtrip_to("::1", port_of(&entrance), 4 << 20, 62);
}

#[test]
fn ipv6_destinations_follow_the_allow_list() {
    let echo = echo_v6();
    let echo_text = echo.to_string();
    // The default list names 127.0.0.1 only: ::1 is another address.
    let (_server, port) = start_server(&["--hostname", "::1"]);
    let url = format!("http://[::1]:{port}");
    let mut refused = Proc::spawn(
        bin(),
        &[
            "client",
            "-s",
            &url,
            "--local-port",
            "0",
            "--remote-address",
            "::1",
            "--remote-port",
            &echo_text,
        ],
    );
    let (code, output) = refused.wait_exit();
    assert_eq!(code, Some(1), "{output:?}");
    assert!(error_line(&output).contains("not allowed"), "{output:?}");

    // An exact IPv6 key allows that address; the entrance may stay on IPv4.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "server.json",
        json!({"allowed_tunnel_destinations": {"::1": &echo_text}}),
    );
    let (_allowing, port) = start_server(&["--hostname", "::1", "-c", &config]);
    let (_client, entrance) = client_v6(
        port,
        &[
            "--local-port",
            "0",
            "--remote-address",
            "::1",
            "--remote-port",
            &echo_text,
        ],
    );
    echo_roundtrip_to("127.0.0.1", port_of(&entrance), 1 << 20, 63);
}

#[test]
fn a_peer_on_ipv6_holds_a_static_tunnel_between_ipv6_ends() {
    let dir = tempfile::tempdir().unwrap();
    let peer_config = write_config(
        dir.path(),
        "peer.json",
        json!({"allowed_tunnel_destinations": {"::1": "*"}}),
    );
    let holder_config = write_config(
        dir.path(),
        "holder.json",
        json!({
            "static_tunnel_retry_interval": 0.2,
            "static_tunnel_local_ports": static_port_range(),
        }),
    );
    let echo = echo_v6();
    let (_peer, peer_port) = start_server(&["--hostname", "::1", "-c", &peer_config]);
    let (_holder, port) = start_server(&["-c", &holder_config]);

    let (status, text) = http(
        port,
        "POST",
        "/peers",
        Some(
            &json!({"name": "v6", "target_netunnel_url": format!("http://[::1]:{peer_port}"), "auth_data": {}})
                .to_string(),
        ),
    );
    assert_eq!(status, 200, "{text}");
    let peer: Value = serde_json::from_str(&text).unwrap();
    let (status, text) = http(
        port,
        "POST",
        &format!("/peers/{}/static_tunnels", peer["id"]),
        Some(
            &json!({
                "tunnel_remote_address": "0:0:0:0:0:0:0:1",
                "tunnel_remote_port": echo,
                "tunnel_local_address": "::1",
            })
            .to_string(),
        ),
    );
    assert_eq!(status, 200, "{text}");
    let tunnel: Value = serde_json::from_str(&text).unwrap();
    // Stored in the canonical spelling, which the peer's exact key names.
    assert_eq!(tunnel["tunnel_remote_address"], "::1");
    assert_eq!(tunnel["tunnel_local_address"], "::1");
    let local = u16::try_from(tunnel["tunnel_local_port"].as_u64().unwrap()).unwrap();
    echo_roundtrip_to("::1", local, 2 << 20, 64);
}
