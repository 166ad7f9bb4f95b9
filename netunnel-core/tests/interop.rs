//! Interoperability with NETunnel 1.0.13, the Python package on PyPI: our
//! client against their server and their client against our server, forward and
//! reverse tunnels, over real processes and sockets.
//!
//! The tests are ignored by default because they need the Python package. Run:
//!
//! ```text
//! cargo build
//! NETUNNEL_INTEROP_PYTHON=$(scripts/interop-venv | tail -1) \
//!     cargo test -p netunnel-core --test interop -- --include-ignored --test-threads 2
//! ```
//!
//! `scripts/interop-venv` makes a venv with `netunnel==1.0.13` pinned by
//! `tests/python/constraints-1.0.13.txt` and one documented patch (see there).

mod support;

use std::process::Command;
use std::thread;

use support::netunnel1::{
    python, spawn_python, start_python_client, start_python_server, start_python_server_with,
};
use support::{
    echo_roundtrip, echo_server, free_port, is_listening, start_client, start_server, wait_until,
    Proc,
};

/// Size of the large transfer through each tunnel.
const BIG: usize = 4 * 1024 * 1024;
/// Sizes of the small transfers after it.
const SMALL: [usize; 4] = [1, 100, 4096, 65_537];

/// One large and a few small checked transfers through the tunnel entrance.
fn roundtrips(entrance: u16, seed: u64) {
    echo_roundtrip(entrance, BIG, seed);
    for (i, size) in SMALL.into_iter().enumerate() {
        echo_roundtrip(entrance, size, seed + 1 + i as u64);
    }
}

/// `count` connections open at the same time, each with a checked transfer.
fn concurrent_roundtrips(entrance: u16, count: u64, size: usize) {
    let workers: Vec<_> = (0..count)
        .map(|i| thread::spawn(move || echo_roundtrip(entrance, size, 1000 + i)))
        .collect();
    for (i, worker) in workers.into_iter().enumerate() {
        if let Err(panic) = worker.join() {
            panic!("concurrent connection {i} failed: {panic:?}");
        }
    }
}

/// Asserts that `proc` still runs (did not crash while serving).
fn assert_running(proc: &mut Proc, what: &str) {
    if let Some(status) = proc.child.try_wait().expect("try_wait") {
        let (_, lines) = proc.wait_exit();
        panic!("{what} exited ({status}):\n{}", lines.join("\n"));
    }
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn our_client_forward_through_their_server() {
    let echo = echo_server();
    let (mut server, server_port) = start_python_server();
    let (mut client, entrance) = start_client(server_port, &["--remote-port", &echo.to_string()]);

    roundtrips(entrance, 1);
    assert_running(&mut server, "netunnel 1.0.13 server");

    client.signal("INT");
    let (code, lines) = client.wait_exit();
    assert_eq!(
        code,
        Some(0),
        "our client should exit 0 on SIGINT; output:\n{}",
        lines.join("\n")
    );
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn their_client_forward_through_our_server() {
    let echo = echo_server();
    let (mut server, server_port) = start_server(&[]);
    // Without --local-port, 1.0.13's client listens on a free port and prints
    // the port it got (InputTunnel.start reads it back from the socket).
    let (mut client, entrance) =
        start_python_client(server_port, &["--remote-port", &echo.to_string()]);

    roundtrips(entrance, 2);
    assert_running(&mut server, "our server");
    assert_running(&mut client, "netunnel 1.0.13 client");
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn their_client_reverse_through_our_server() {
    let echo = echo_server();
    let (mut server, server_port) = start_server(&[]);
    let remote = free_port();
    let (mut client, entrance) = start_python_client(
        server_port,
        &[
            "-r",
            "--local-port",
            &echo.to_string(),
            "--remote-port",
            &remote.to_string(),
        ],
    );
    assert_eq!(entrance, remote, "the entrance is the remote port we asked");

    // Our server listens on the remote port; each connection there makes it ask
    // the 1.0.13 client for a websocket (TUNNEL_SERVER_TO_CLIENT_NEW_CONNECTION).
    roundtrips(entrance, 3);
    // Many at once: more than the one spare websocket 1.0.13's client keeps.
    concurrent_roundtrips(entrance, 20, 64 * 1024);
    assert_running(&mut server, "our server");
    assert_running(&mut client, "netunnel 1.0.13 client");
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn our_client_reverse_through_their_server() {
    // This needs the EventItem patch that scripts/interop-venv applies: unpatched
    // 1.0.13 builds an `EventItem` (asyncio.Event(loop=...)) for every channel
    // message it sends, which raises TypeError on Python >= 3.10 inside a task,
    // so its server never sends TUNNEL_SERVER_TO_CLIENT_NEW_CONNECTION and no
    // connection through its reverse tunnels ever reaches our client.
    let echo = echo_server();
    let (mut server, server_port) = start_python_server();
    let remote = free_port();
    let (mut client, entrance) = start_client(
        server_port,
        &[
            "-r",
            "--local-port",
            &echo.to_string(),
            "--remote-port",
            &remote.to_string(),
        ],
    );
    assert_eq!(entrance, remote, "the entrance is the remote port we asked");
    // No polling: 1.0.13's server listens on the remote port before it answers
    // the tunnel request, and our client prints the entrance only after that.

    roundtrips(entrance, 4);
    concurrent_roundtrips(entrance, 10, 64 * 1024);
    assert_running(&mut server, "netunnel 1.0.13 server");
    assert_running(&mut client, "our client");
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn their_client_refused_destination() {
    let echo = echo_server();
    let (mut server, server_port) = start_server(&[]);
    // Our default allow-list is {"127.0.0.1": "*"} and addresses are compared as
    // strings, so `localhost` is refused before anything is connected to.
    let url = format!("http://127.0.0.1:{server_port}");
    let mut client = spawn_python(
        "netunnel.client",
        &[
            "-s",
            &url,
            "--remote-address",
            "localhost",
            "--remote-port",
            &echo.to_string(),
        ],
    );
    let (code, lines) = client.wait_exit();
    let output = lines.join("\n");
    assert_ne!(
        code,
        Some(0),
        "their client should fail on a refused destination:\n{output}"
    );
    assert!(
        lines.iter().any(|line| line.contains("not allowed")),
        "their client should report `not allowed`:\n{output}"
    );
    assert!(
        !lines
            .iter()
            .any(|line| line.contains("Tunnel entrance socket:")),
        "no tunnel should open:\n{output}"
    );

    // The refusal did not hurt the server: an allowed tunnel still works.
    assert_running(&mut server, "our server");
    let (_client, entrance) =
        start_python_client(server_port, &["--remote-port", &echo.to_string()]);
    echo_roundtrip(entrance, 64 * 1024, 5);
}

/// Runs a Python snippet in the 1.0.13 venv and returns its stdout.
fn python_eval(code: &str) -> String {
    let out = Command::new(python())
        .args(["-c", code])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn netunnel(args: &[&str]) -> String {
    let out = Command::new(support::bin())
        .args(args)
        .output()
        .expect("run netunnel");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn config_files_move_between_their_server_and_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("netunnel.conf");
    let path_arg = path.to_str().expect("utf-8").to_string();
    // Their server writes the file and encrypts proxy credentials (Fernet).
    let (mut theirs, port) = start_python_server_with(&["-c", &path_arg]);
    let body = serde_json::json!({"proxy_url": "http://127.0.0.1:3128", "username": "alice", "password": "p@ss w0rd!", "check_proxy": false});
    let (status, answer) =
        support::http(port, "POST", "/config/http-proxy", Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
    theirs.child.kill().expect("kill");
    theirs.child.wait().expect("wait");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let key = written["secret_key"]
        .as_str()
        .expect("their key")
        .to_string();
    let user_token = written["http_proxy"]["username"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(user_token.starts_with("gAAAAA"), "{written}");

    // Our server runs on it unchanged and can read their tokens.
    let (mut ours, port) = start_server(&["-c", &path_arg]);
    let (_, shown) = support::http(port, "GET", "/config/http-proxy", None);
    assert!(
        shown.contains("******") && !shown.contains("alice"),
        "{shown}"
    );
    assert_eq!(
        netunnel(&["security", "decrypt", &key, &user_token]),
        "alice"
    );
    // We write new credentials in our format...
    let body = serde_json::json!({"proxy_url": "http://127.0.0.1:3128", "username": "bob", "password": "hunter2", "check_proxy": false});
    assert_eq!(
        support::http(port, "POST", "/config/http-proxy", Some(&body.to_string())).0,
        200
    );
    ours.signal("TERM");
    ours.wait_exit();
    // ...and `config downgrade` makes them readable by NETunnel 1.0.x again.
    netunnel(&["config", "downgrade", &path_arg]);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let token = file["http_proxy"]["password"].as_str().expect("token");
    let code = format!(
        "from netunnel.common.security import Encryptor; print(Encryptor({key:?}).decrypt_string({token:?}))"
    );
    assert_eq!(python_eval(&code), "hunter2");
    // Their server starts on the file we wrote.
    let (_theirs, port) = start_python_server_with(&["-c", &path_arg]);
    assert_eq!(support::http(port, "GET", "/version", None).0, 200);
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn our_fernet_tokens_decrypt_with_their_encryptor() {
    let key = netunnel(&["security", "generate-key"]);
    let token = netunnel(&[
        "security",
        "encrypt",
        &key,
        "unicode-שלום-é",
        "--format",
        "fernet",
    ]);
    let code = format!(
        "from netunnel.common.security import Encryptor; print(Encryptor({key:?}).decrypt_string({token:?}))"
    );
    assert_eq!(python_eval(&code), "unicode-שלום-é");
    // And theirs decrypt with ours.
    let theirs = python_eval(&format!(
        "from netunnel.common.security import Encryptor; print(Encryptor({key:?}).encrypt_string('from python'))"
    ));
    assert_eq!(
        netunnel(&["security", "decrypt", &key, &theirs]),
        "from python"
    );
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn our_server_holds_a_static_tunnel_to_their_server() {
    let echo = echo_server();
    let (_theirs, their_port) = start_python_server();
    let (_dir, config) = own_port_range();
    let (_ours, port) = start_server(&["-c", &config]);
    let peer = serde_json::json!({"name": "python", "target_netunnel_url": format!("http://127.0.0.1:{their_port}"), "auth_data": {}});
    let (status, answer) = support::http(port, "POST", "/peers", Some(&peer.to_string()));
    assert_eq!(status, 200, "{answer}");
    let body = serde_json::json!({"tunnel_remote_port": echo});
    let (status, answer) = support::http(
        port,
        "POST",
        "/peers/1/static_tunnels",
        Some(&body.to_string()),
    );
    assert_eq!(status, 200, "{answer}");
    let tunnel: serde_json::Value = serde_json::from_str(&answer).expect("json");
    let local = tunnel["tunnel_local_port"].as_u64().expect("port") as u16;
    roundtrips(local, 21);
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn their_client_library_manages_peers_on_our_server() {
    let echo = echo_server();
    let (_peer, peer_port) = start_server(&[]);
    let (_dir, config) = own_port_range();
    let (_ours, port) = start_server(&["-c", &config]);
    // NETunnel 1.0.13's own client API, driving our server.
    let script = format!(
        r#"
import asyncio, json
from netunnel.client import NETunnelClient
async def main():
    async with NETunnelClient("http://127.0.0.1:{port}") as client:
        peer = await client.register_peer("rust", "http://127.0.0.1:{peer_port}")
        tunnel = await client.create_peer_static_tunnel("rust", {echo})
        listed = await client.list_peer_static_tunnels("rust")
        assert listed == [tunnel], listed
        assert (await client.get_peer_by_name("rust"))["id"] == peer["id"]
        print(json.dumps(tunnel))
        proxy = await client.get_server_default_http_proxy()
        assert proxy == {{}}, proxy
asyncio.run(main())
"#
    );
    let tunnel: serde_json::Value = serde_json::from_str(&python_eval(&script)).expect("json");
    roundtrips(
        tunnel["tunnel_local_port"].as_u64().expect("port") as u16,
        22,
    );
}

/// A config file giving static tunnels a local port range of their own, so
/// tests running at the same time do not race for the lowest free port.
fn own_port_range() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("netunnel.conf");
    let config = serde_json::json!({"static_tunnel_local_ports": support::static_port_range()});
    std::fs::write(&path, config.to_string()).expect("write config");
    let path = path.to_str().expect("utf-8").to_string();
    (dir, path)
}

#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn their_client_stops_a_reverse_tunnel_gracefully_on_our_server() {
    let echo = echo_server();
    let (mut server, port) = start_server(&[]);
    let entrance = free_port();
    // 1.0.13's `Tunnel.stop()` (force=False) waits for the tunnel's open
    // connections to end, then sends DELETE with {"force": false}: our server
    // drains the tunnel (closing the spare websockets 1.0.13 pushed to it) and
    // must answer, or the stop never completes.
    let script = format!(
        r#"
import asyncio
from netunnel.client import NETunnelClient
async def echo_once(reader, writer, message):
    writer.write(message)
    await writer.drain()
    assert await reader.readexactly(len(message)) == message
async def main():
    async with NETunnelClient("http://127.0.0.1:{port}") as client:
        tunnel = await client.open_tunnel_to_client("127.0.0.1", {echo}, "127.0.0.1", {entrance})
        reader, writer = await asyncio.open_connection("127.0.0.1", {entrance})
        await echo_once(reader, writer, b"before stop")
        stopping = asyncio.ensure_future(tunnel.stop())
        await echo_once(reader, writer, b"while stopping")
        assert not stopping.done(), "stop waits for the open connection"
        writer.close()
        await asyncio.wait_for(stopping, 20)
        print("stopped")
asyncio.run(main())
"#
    );
    assert_eq!(python_eval(&script), "stopped");
    wait_until("our server to stop listening on the entrance", || {
        !is_listening(entrance)
    });
    assert_running(&mut server, "our server");
}
