//! The destination and entrance rules as a client meets them: every other
//! spelling of an allowed address refused, CIDR ranges, names resolved once
//! with every address checked, and bad ports refused on the wire.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use support::library::{client_of, deadline, options_with_config, server_with_config};

use netunnel_core::client::Client;
use netunnel_core::{ErrorKind, Server};
use serde_json::json;

/// A server whose configuration file holds `config`, and a client of it.
async fn server_with(dir: &tempfile::TempDir, config: serde_json::Value) -> (Server, Client) {
    let server = server_with_config(dir.path(), config).await;
    let client = client_of(&server).await;
    (server, client)
}

async fn forward(client: &Client, address: &str, port: u16) -> netunnel_core::Result<u16> {
    let tunnel = client
        .open_tunnel_to_server("127.0.0.1", None, address, port)
        .await?;
    Ok(tunnel.info().entrance.1)
}

#[async_std::test]
async fn other_spellings_of_an_allowed_address_are_refused() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let rules = json!({"allowed_tunnel_destinations": {"127.0.0.1": echo.to_string()}});
    let (server, client) = server_with(&dir, rules).await;
    for (address, kind) in [
        ("127.1", ErrorKind::BadRequest),
        ("0177.0.0.1", ErrorKind::BadRequest),
        ("0x7f.0.0.1", ErrorKind::BadRequest),
        ("0x7f000001", ErrorKind::BadRequest),
        ("2130706433", ErrorKind::BadRequest),
        ("127.0.0.01", ErrorKind::BadRequest),
        ("127.000.0.1", ErrorKind::BadRequest),
        ("127.0.0.1.", ErrorKind::BadRequest),
        ("127.0.0.1:22", ErrorKind::BadRequest),
        ("0.0.0.0", ErrorKind::NotAllowed),
        ("[::1]", ErrorKind::NotAllowed),
        ("::", ErrorKind::NotAllowed),
        // An exact key is exact text, as in 1.0.x.
        ("::ffff:127.0.0.1", ErrorKind::NotAllowed),
        ("localhost", ErrorKind::NotAllowed),
    ] {
        let err = deadline(forward(&client, address, echo)).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{address}: {err}");
    }
    let err = deadline(forward(&client, "127.0.0.1", echo + 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAllowed, "{err}");
    let entrance = deadline(forward(&client, "127.0.0.1", echo)).await.unwrap();
    async_std::task::spawn_blocking(move || support::echo_roundtrip(entrance, 10_000, 1)).await;
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn ranges_allow_what_they_cover_and_names_need_every_address_allowed() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let port = echo.to_string();
    let rules = json!({"allowed_tunnel_destinations": {"127.0.0.0/8": port, "::1/128": port}});
    let (server, client) = server_with(&dir, rules).await;
    // Any address of the range, on the allowed port only.
    let err = deadline(forward(&client, "127.0.0.2", echo + 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAllowed, "{err}");
    let err = deadline(forward(&client, "10.0.0.1", echo))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAllowed, "{err}");
    // Any address of the range opens (nothing listens on 127.0.0.9, though).
    deadline(forward(&client, "127.0.0.9", echo)).await.unwrap();
    // Any spelling of a covered address.
    for address in ["127.0.0.1", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]"] {
        let entrance = deadline(forward(&client, address, echo)).await.unwrap();
        async_std::task::spawn_blocking(move || support::echo_roundtrip(entrance, 1000, 2)).await;
    }
    // `localhost` resolves (once) to 127.0.0.1, and ::1 where the system
    // says so: all covered. The echo service listens on 127.0.0.1 only: the
    // exit tries the addresses checked, in order, and never resolves again.
    let entrance = deadline(forward(&client, "localhost", echo)).await.unwrap();
    async_std::task::spawn_blocking(move || support::echo_roundtrip(entrance, 10_000, 2)).await;
    // A name that does not resolve (or not in time) is simply not allowed.
    let err = deadline(forward(&client, "no-such-host.invalid", echo))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAllowed, "{err}");
    client.close().await;
    server.stop().await;

    // A name with an address no range covers is refused; the client is not
    // told what the server's resolver said.
    let dir = tempfile::tempdir().unwrap();
    let rules = json!({"allowed_tunnel_destinations": {"10.0.0.0/8": "*"}});
    let (server, client) = server_with(&dir, rules).await;
    let err = deadline(forward(&client, "localhost", echo))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAllowed, "{err}");
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");
    client.close().await;
    server.stop().await;
}

/// The shared async-std runtime, remembering every host it is asked to
/// connect to or listen on.
struct Recording {
    inner: netunnel_core::RuntimeRef,
    hosts: std::sync::Mutex<Vec<String>>,
}

impl netunnel_core::Runtime for Recording {
    fn spawn(&self, future: futures::future::BoxFuture<'static, ()>) {
        self.inner.spawn(future)
    }
    fn sleep(&self, duration: std::time::Duration) -> futures::future::BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
    fn listen(
        &self,
        host: String,
        port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Box<dyn netunnel_core::Listener>>>
    {
        self.hosts.lock().unwrap().push(host.clone());
        self.inner.listen(host, port)
    }
    fn connect(
        &self,
        host: String,
        port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<netunnel_core::BoxConn>> {
        self.hosts.lock().unwrap().push(host.clone());
        self.inner.connect(host, port)
    }
    fn unblock(&self, work: Box<dyn FnOnce() + Send>) -> futures::future::BoxFuture<'static, ()> {
        self.inner.unblock(work)
    }
}

#[async_std::test]
async fn tunnels_to_a_name_connect_and_listen_on_addresses_only() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let rules = json!({
        "allowed_tunnel_destinations": {"127.0.0.0/8": "*", "::1/128": "*"},
        "allowed_tunnel_entrances": {"localhost": "*"},
    });
    let recording = std::sync::Arc::new(Recording {
        inner: netunnel_core::AsyncStdRuntime::shared(),
        hosts: Default::default(),
    });
    let options = options_with_config(dir.path(), &rules).runtime(recording.clone());
    let server = deadline(Server::start(options)).await.unwrap();
    let client = client_of(&server).await;
    let entrance = deadline(forward(&client, "localhost", echo)).await.unwrap();
    async_std::task::spawn_blocking(move || {
        for seed in 0..3 {
            support::echo_roundtrip(entrance, 1000, seed);
        }
    })
    .await;
    let reverse = deadline(client.open_tunnel_to_client("127.0.0.1", echo, "localhost", None))
        .await
        .unwrap();
    let port = reverse.info().entrance.1;
    async_std::task::spawn_blocking(move || support::echo_roundtrip(port, 1000, 9)).await;
    let hosts = recording.hosts.lock().unwrap().clone();
    // The server's own listener, then the tunnels' connections and listener.
    assert!(hosts.len() >= 5, "{hosts:?}");
    for host in &hosts[1..] {
        assert!(
            host.parse::<std::net::IpAddr>().is_ok(),
            "the server resolved a name again: {hosts:?}"
        );
    }
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn without_entrance_rules_any_address_but_no_ambiguous_one() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = server_with(&dir, json!({})).await;
    let err = deadline(client.open_tunnel_to_client("127.0.0.1", echo, "127.1", None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest, "{err}");
    let reverse = deadline(client.open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None))
        .await
        .unwrap();
    let port = reverse.info().entrance.1;
    async_std::task::spawn_blocking(move || support::echo_roundtrip(port, 1000, 4)).await;
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn a_name_written_in_the_rules_is_allowed_as_1_0_x_did() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let rules = json!({"allowed_tunnel_destinations": {"localhost": echo.to_string(), "127.0.0.2/31": "*"}});
    let (server, client) = server_with(&dir, rules).await;
    let entrance = deadline(forward(&client, "localhost", echo)).await.unwrap();
    async_std::task::spawn_blocking(move || support::echo_roundtrip(entrance, 10_000, 3)).await;
    // The name's addresses are not allowed by themselves.
    let err = deadline(forward(&client, "127.0.0.1", echo))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAllowed, "{err}");
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn entrances_follow_the_same_rules() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let rules = json!({"allowed_tunnel_entrances": {"127.0.0.0/8": "*"}});
    let (server, client) = server_with(&dir, rules).await;
    for (address, kind) in [
        ("0.0.0.0", ErrorKind::NotAllowed),
        ("::", ErrorKind::NotAllowed),
        ("[::1]", ErrorKind::NotAllowed),
        ("10.0.0.1", ErrorKind::NotAllowed),
        ("127.1", ErrorKind::BadRequest),
        ("0x7f.0.0.1", ErrorKind::BadRequest),
    ] {
        let err = deadline(client.open_tunnel_to_client("127.0.0.1", echo, address, None))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{address}: {err}");
    }
    let reverse = deadline(client.open_tunnel_to_client("127.0.0.1", echo, "127.0.0.3", None))
        .await
        .unwrap();
    let (address, port) = reverse.info().entrance.clone();
    assert_eq!(address, "127.0.0.3");
    let stream = std::net::TcpStream::connect(("127.0.0.3", port)).unwrap();
    drop(stream);
    client.close().await;
    server.stop().await;
}

#[test]
fn ports_that_are_strings_or_out_of_range_are_refused_on_the_wire() {
    let echo = support::echo_server();
    let (mut server, port) = support::start_server(&[]);
    let (status, body) =
        support::http(port, "POST", "/channels", Some("{\"version\": \"1.0.13\"}"));
    assert_eq!(status, 200, "{body}");
    let cid: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cid = cid["channel_id"].as_u64().unwrap();
    let tunnels = format!("/channels/{cid}/tunnels");
    for exit_port in [
        json!(echo.to_string()),
        json!(70000),
        json!(-1),
        json!(22.5),
    ] {
        let request =
            json!({"exit_address": "127.0.0.1", "exit_port": exit_port, "reverse": false});
        let (status, body) = support::http(port, "POST", &tunnels, Some(&request.to_string()));
        assert_eq!(status, 400, "{exit_port}: {body}");
    }
    // The same request with the port as a number is fine.
    let request = json!({"exit_address": "127.0.0.1", "exit_port": echo, "reverse": false});
    let (status, body) = support::http(port, "POST", &tunnels, Some(&request.to_string()));
    assert_eq!(status, 200, "{body}");
    server.drain();
}
