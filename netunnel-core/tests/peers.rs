//! Peers and static tunnels through the real binary: two (or three) servers,
//! one holding static tunnels to another.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::*;

/// A config that makes static tunnels retry fast and pick local ports from a
/// range of their own, so tests run in parallel.
fn fast_config(dir: &Path, extra: Value) -> PathBuf {
    let mut config = json!({
        "static_tunnel_retry_interval": 0.2,
        "static_tunnel_health_check_interval": 0.5,
        "static_tunnel_local_ports": static_port_range(),
    });
    if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
        config.extend(extra);
    }
    let path = dir.join("holder.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn post(port: u16, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = http(port, "POST", path, Some(&body.to_string()));
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn get(port: u16, path: &str) -> (u16, Value) {
    let (status, text) = http(port, "GET", path, None);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn error_of(answer: &Value) -> &str {
    answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {answer}"))
}

#[test]
fn peer_rest_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path(), json!({}));
    let (_peer, peer_port) = start_server(&[]);
    let (_holder, port) = start_server(&["-c", config.to_str().unwrap()]);

    let (status, peer) = post(
        port,
        "/peers",
        json!({"name": "one", "target_netunnel_url": url(peer_port), "auth_data": {"token": "abc"}}),
    );
    assert_eq!(status, 200, "{peer}");
    assert_eq!(
        peer,
        json!({"id": 1, "name": "one", "target_netunnel_url": url(peer_port), "auth_data": {"token": "******"}, "static_tunnels": []})
    );
    // auth_data is stored encrypted.
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert!(stored["peers"][0]["auth_data"]["token"]
        .as_str()
        .unwrap()
        .starts_with("ntv1:"));

    let bad_bodies = [
        (
            json!({"name": "one", "target_netunnel_url": url(peer_port)}),
            "already exists",
        ),
        (
            json!({"name": "two", "target_netunnel_url": "ftp://x"}),
            "target_netunnel_url",
        ),
        (json!({"name": "two"}), "target_netunnel_url"),
        (json!({"target_netunnel_url": url(peer_port)}), "name"),
        (
            json!({"name": "two", "target_netunnel_url": url(peer_port), "id": 5}),
            "id",
        ),
        (
            json!({"name": "two", "target_netunnel_url": url(peer_port), "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "two", "target_netunnel_url": url(peer_port), "auth_data": {"a": 1}}),
            "auth_data",
        ),
        (
            json!({"name": "two", "target_netunnel_url": url(free_port())}),
            "Failed to connect with peer `two`",
        ),
    ];
    for (body, needle) in bad_bodies {
        let (status, answer) = post(port, "/peers", body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(error_of(&answer).contains(needle), "{body}: {answer}");
    }
    let (_, list) = get(port, "/peers");
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "a failed registration stored something"
    );

    // A second peer gets id max + 1; the name filter works.
    let (status, two) = post(
        port,
        "/peers",
        json!({"name": "two", "target_netunnel_url": url(peer_port), "auth_data": {}}),
    );
    assert_eq!((status, two["id"].as_u64()), (200, Some(2)));
    let (_, filtered) = get(port, "/peers?name=two");
    assert_eq!(filtered, json!([two]));
    assert_eq!(get(port, "/peers/2"), (200, two.clone()));
    assert_eq!(get(port, "/peers/99").0, 404);

    // Updates: rename, refuse a taken name, refuse an unreachable URL (no change).
    let (status, renamed) = post(port, "/peers/2", json!({"name": "deux"}));
    assert_eq!((status, renamed["name"].as_str()), (200, Some("deux")));
    let (status, answer) = post(port, "/peers/2", json!({"name": "one"}));
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = post(
        port,
        "/peers/2",
        json!({"target_netunnel_url": url(free_port())}),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        get(port, "/peers/2").1["target_netunnel_url"],
        url(peer_port)
    );
    assert_eq!(post(port, "/peers/99", json!({"name": "x"})).0, 404);

    assert_eq!(http(port, "DELETE", "/peers/2", None).0, 200);
    assert_eq!(get(port, "/peers/2").0, 404);
    assert_eq!(http(port, "DELETE", "/peers/2", None).0, 404);
}

#[test]
fn static_tunnel_rules_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path(), json!({}));
    let peer_config = dir.path().join("peer.json");
    std::fs::write(
        &peer_config,
        json!({"allowed_tunnel_destinations": {"127.0.0.1": "*"}}).to_string(),
    )
    .unwrap();
    let echo = echo_server();
    let (_peer, peer_port) = start_server(&["-c", peer_config.to_str().unwrap()]);
    let (_holder, port) = start_server(&["-c", config.to_str().unwrap()]);
    let (_, peer) = post(
        port,
        "/peers",
        json!({"name": "p", "target_netunnel_url": url(peer_port), "auth_data": {}}),
    );
    let pid = peer["id"].as_u64().unwrap();
    let base = format!("/peers/{pid}/static_tunnels");

    let (status, tunnel) = post(port, &base, json!({"tunnel_remote_port": echo}));
    assert_eq!(status, 200, "{tunnel}");
    assert_eq!(tunnel["id"], 1);
    assert_eq!(tunnel["tunnel_remote_address"], "127.0.0.1");
    assert_eq!(tunnel["tunnel_local_address"], "127.0.0.1");
    let local = tunnel["tunnel_local_port"].as_u64().unwrap() as u16;
    echo_roundtrip(local, 2 << 20, 11);

    for (body, needle) in [
        (
            json!({"tunnel_remote_port": echo, "tunnel_local_port": 1234}),
            "tunnel_local_port",
        ),
        (json!({"tunnel_remote_port": echo, "id": 3}), "id"),
        (json!({"tunnel_remote_port": 0}), "tunnel_remote_port"),
        (json!({"tunnel_remote_port": 70000}), "tunnel_remote_port"),
        (json!({}), "tunnel_remote_port"),
        (
            json!({"tunnel_remote_port": echo, "tunnel_remote_address": "localhost"}),
            "tunnel_remote_address",
        ),
        (
            json!({"tunnel_remote_port": echo, "tunnel_local_address": "[::1]"}),
            "tunnel_local_address",
        ),
        // An address of no interface here (TEST-NET-1): the bind's reason,
        // not "no free local port".
        (
            json!({"tunnel_remote_port": echo, "tunnel_local_address": "192.0.2.1"}),
            "cannot listen on 192.0.2.1:",
        ),
        // Refused by the peer's allow-list: the reason comes back.
        (
            json!({"tunnel_remote_port": echo, "tunnel_remote_address": "127.0.0.2"}),
            "not allowed",
        ),
    ] {
        let (status, answer) = post(port, &base, body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(error_of(&answer).contains(needle), "{body}: {answer}");
    }
    let (_, list) = get(port, &base);
    assert_eq!(list, json!([tunnel]), "a refused static tunnel was stored");
    assert_eq!(get(port, &format!("{base}/1")), (200, tunnel.clone()));
    assert_eq!(get(port, &format!("{base}/9")).0, 404);

    // A second tunnel takes the next free local port and id 2.
    let (_, second) = post(port, &base, json!({"tunnel_remote_port": echo}));
    assert_eq!(second["id"], 2);
    assert!(second["tunnel_local_port"].as_u64().unwrap() > u64::from(local));
    assert_eq!(
        get(port, &format!("/peers/{pid}")).1["static_tunnels"],
        json!([tunnel, second])
    );

    assert_eq!(http(port, "DELETE", &format!("{base}/1"), None).0, 200);
    assert!(!is_listening(local));
    assert_eq!(get(port, &format!("{base}/1")).0, 404);
    // Deleting the peer stops its remaining tunnels.
    let second_port = second["tunnel_local_port"].as_u64().unwrap() as u16;
    assert!(is_listening(second_port));
    assert_eq!(http(port, "DELETE", &format!("/peers/{pid}"), None).0, 200);
    assert!(!is_listening(second_port));
}

#[test]
fn a_static_tunnel_survives_its_peer_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path(), json!({}));
    let echo = echo_server();
    let (mut peer, peer_port) = start_server(&[]);
    let (mut holder, port) = start_server(&["-c", config.to_str().unwrap()]);
    let (_, p) = post(
        port,
        "/peers",
        json!({"name": "p", "target_netunnel_url": url(peer_port), "auth_data": {}}),
    );
    let (_, tunnel) = post(
        port,
        &format!("/peers/{}/static_tunnels", p["id"]),
        json!({"tunnel_remote_port": echo}),
    );
    let local = tunnel["tunnel_local_port"].as_u64().unwrap() as u16;
    echo_roundtrip(local, 100_000, 1);

    peer.child.kill().unwrap();
    peer.child.wait().unwrap();
    wait_until("the static tunnel to go offline", || !is_listening(local));
    // The server holding it keeps running and keeps retrying.
    holder.wait_line("retrying");
    assert!(holder.child.try_wait().unwrap().is_none());
    let port_arg = peer_port.to_string();
    let _peer = Proc::spawn(bin(), &["server", "-p", &port_arg]);
    wait_until("the static tunnel to come back", || is_listening(local));
    echo_roundtrip(local, 100_000, 2);
}

#[test]
fn static_tunnels_come_back_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path(), json!({}));
    let config_arg = config.to_str().unwrap().to_string();
    let echo = echo_server();
    let (_peer, peer_port) = start_server(&[]);
    let (mut holder, port) = start_server(&["-c", &config_arg]);
    let (_, p) = post(
        port,
        "/peers",
        json!({"name": "p", "target_netunnel_url": url(peer_port), "auth_data": {"k": "v"}}),
    );
    let (_, tunnel) = post(
        port,
        &format!("/peers/{}/static_tunnels", p["id"]),
        json!({"tunnel_remote_port": echo}),
    );
    let local = tunnel["tunnel_local_port"].as_u64().unwrap() as u16;
    holder.signal("TERM");
    assert_eq!(holder.wait_exit().0, Some(0));
    assert!(!is_listening(local));

    let (_holder, port) = start_server(&["-c", &config_arg]);
    wait_until("the restored static tunnel", || is_listening(local));
    echo_roundtrip(local, 100_000, 3);
    assert_eq!(get(port, "/peers").1[0]["static_tunnels"], json!([tunnel]));
}

#[test]
fn a_holder_starts_while_its_peer_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let echo = echo_server();
    let peer_port = free_port();
    let local = free_port();
    let config = fast_config(
        dir.path(),
        json!({"peers": [{
            "id": 1, "name": "later", "target_netunnel_url": url(peer_port), "auth_data": {},
            "static_tunnels": [{"id": 1, "tunnel_remote_address": "127.0.0.1", "tunnel_remote_port": echo,
                                "tunnel_local_address": "127.0.0.1", "tunnel_local_port": local}]
        }]}),
    );
    let (_holder, port) = start_server(&["-c", config.to_str().unwrap()]);
    assert_eq!(get(port, "/peers/1").0, 200);
    assert!(!is_listening(local));
    let port_arg = peer_port.to_string();
    let _peer = Proc::spawn(bin(), &["server", "-p", &port_arg]);
    wait_until("the static tunnel to come online", || is_listening(local));
    echo_roundtrip(local, 10_000, 4);
}

#[test]
fn static_tunnels_follow_the_global_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path(), json!({}));
    let echo = echo_server();
    let (_proxy, proxy_port, proxy_log) = start_tinyproxy(dir.path(), Some(("u", "p")));
    let (_peer, peer_port) = start_server(&[]);
    let (_holder, port) = start_server(&["-c", config.to_str().unwrap()]);
    let (_, p) = post(
        port,
        "/peers",
        json!({"name": "p", "target_netunnel_url": url(peer_port), "auth_data": {}}),
    );
    let (_, tunnel) = post(
        port,
        &format!("/peers/{}/static_tunnels", p["id"]),
        json!({"tunnel_remote_port": echo}),
    );
    let local = tunnel["tunnel_local_port"].as_u64().unwrap() as u16;
    echo_roundtrip(local, 10_000, 5);
    // tinyproxy logs each request line, e.g. `CONNECT 127.0.0.1:4040 HTTP/1.1`.
    let connect_line = format!("CONNECT 127.0.0.1:{peer_port}");
    let before = std::fs::read_to_string(&proxy_log).unwrap_or_default();
    assert!(!before.contains(&connect_line), "{before}");

    let proxy = json!({"proxy_url": url(proxy_port), "username": "u", "password": "p", "check_proxy": false});
    assert_eq!(post(port, "/config/http-proxy", proxy).0, 200);
    wait_until("the static tunnel to reconnect through the proxy", || {
        std::fs::read_to_string(&proxy_log)
            .unwrap_or_default()
            .contains(&connect_line)
            && is_listening(local)
    });
    echo_roundtrip(local, 10_000, 6);
}

fn cli(server: u16, args: &[&str]) -> (i32, String, String) {
    let url = url(server);
    let out = std::process::Command::new(bin())
        .args(["peers", "-s", &url])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn the_peers_command_manages_peers_and_static_tunnels() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path(), json!({}));
    let echo = echo_server();
    let (_peer, peer_port) = start_server(&[]);
    let (_holder, port) = start_server(&["-c", config.to_str().unwrap()]);
    let peer_url = url(peer_port);

    let (code, out, err) = cli(
        port,
        &[
            "add",
            "far away",
            &peer_url,
            "--peer-auth-data",
            r#"{"k": "v"}"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let peer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(peer["name"], "far away");
    assert_eq!(peer["auth_data"], json!({"k": "******"}));

    let echo_arg = echo.to_string();
    let (code, out, err) = cli(
        port,
        &["add-tunnel", "far away", "--remote-port", &echo_arg],
    );
    assert_eq!(code, 0, "{err}");
    let tunnel: Value = serde_json::from_str(&out).unwrap();
    echo_roundtrip(
        tunnel["tunnel_local_port"].as_u64().unwrap() as u16,
        10_000,
        7,
    );

    let (_, out, _) = cli(port, &["tunnels", "far away"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!([tunnel])
    );
    // Beyond 1.0.x's command: where the tunnel listens on this server's host.
    let (code, out, err) = cli(
        port,
        &[
            "add-tunnel",
            "far away",
            "--remote-port",
            &echo_arg,
            "--local-address",
            "127.0.0.2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let second: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(second["tunnel_local_address"], "127.0.0.2");
    let second_port = second["tunnel_local_port"].as_u64().unwrap() as u16;
    echo_roundtrip_to("127.0.0.2", second_port, 10_000, 8);
    assert_eq!(cli(port, &["delete-tunnel", "far away", "2"]).0, 0);
    let (code, out, _) = cli(port, &["update", "far away", "--new-name", "near"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["name"], "near");
    let (code, _, err) = cli(port, &["show", "far away"]);
    assert_eq!(code, 1);
    assert!(err.contains("Peer `far away` was not found"), "{err}");
    assert_eq!(cli(port, &["delete-tunnel", "near", "1"]).0, 0);
    assert_eq!(cli(port, &["delete", "near"]).0, 0);
    let (_, out, _) = cli(port, &["list"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([]));
}

/// The walk-through of examples/server-server, with its fixed ports replaced by
/// free ones.
#[test]
fn the_server_to_server_example_works() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/server-server");
    let ssh = echo_server();
    let server1_port = free_port();
    let local = free_port();
    let server1 = dir.path().join("server1.json");
    let server2 = dir.path().join("server2.json");
    let text = std::fs::read_to_string(examples.join("server1.json")).unwrap();
    std::fs::write(&server1, text.replace("\"22\"", &format!("\"{ssh}\""))).unwrap();
    let mut text = std::fs::read_to_string(examples.join("server2.json")).unwrap();
    text = text
        .replace("127.0.0.1:4040", &format!("127.0.0.1:{server1_port}"))
        .replace(
            "\"tunnel_remote_port\": 22",
            &format!("\"tunnel_remote_port\": {ssh}"),
        )
        .replace("20000", &local.to_string());
    let mut config: Value = serde_json::from_str(&text).unwrap();
    config["static_tunnel_retry_interval"] = json!(0.2);
    std::fs::write(&server2, config.to_string()).unwrap();

    let port_arg = server1_port.to_string();
    let server1_arg = server1.to_str().unwrap().to_string();
    let mut first = Proc::spawn(bin(), &["server", "-p", &port_arg, "-c", &server1_arg]);
    first.wait_line("Starting server on");
    let (mut holder, _) = start_server(&["-c", server2.to_str().unwrap()]);
    holder.wait_line("is online");
    echo_roundtrip(local, 50_000, 8);

    first.child.kill().unwrap();
    first.child.wait().unwrap();
    wait_until("the tunnel to go offline", || !is_listening(local));
    let mut again = Proc::spawn(bin(), &["server", "-p", &port_arg, "-c", &server1_arg]);
    again.wait_line("Starting server on");
    wait_until("the tunnel to return", || is_listening(local));
    echo_roundtrip(local, 50_000, 9);
}
