//! The Rust API end to end, in one process on async-std: a `ServerHandle` and a
//! `Client` over real loopback sockets.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::sync::Arc;
use std::time::Duration;

use netunnel_core::client::{Client, ClientSettings, Tunnel};
use netunnel_core::config::ConfigStore;
use netunnel_core::server::{ServerCore, ServerSettings};
use netunnel_core::transport::{Method, Transport};
use netunnel_core::{AsyncStdRuntime, HttpTransport, ServerHandle};

async fn server(settings: ServerSettings) -> ServerHandle {
    let store = ConfigStore::in_memory(None, &|_| None).unwrap();
    let rt = AsyncStdRuntime::shared();
    let connector = netunnel_core::HttpConnector::new(rt.clone());
    let auth = Arc::new(netunnel_core::auth::NoAuth);
    let core = ServerCore::new(rt, settings, Arc::new(store), connector, auth);
    ServerHandle::start(core, "127.0.0.1", 0).await.unwrap()
}

fn transport(server: &ServerHandle) -> Arc<HttpTransport> {
    let url = format!("http://{}", server.local_addr());
    Arc::new(HttpTransport::new(AsyncStdRuntime::shared(), &url).unwrap())
}

async fn client(server: &ServerHandle) -> Client {
    Client::connected(
        AsyncStdRuntime::shared(),
        transport(server),
        ClientSettings::default(),
    )
    .await
    .unwrap()
}

async fn deadline<F: std::future::Future>(future: F) -> F::Output {
    async_std::future::timeout(support::WAIT, future)
        .await
        .expect("timed out")
}

/// A forward and a reverse tunnel, both to `echo`.
async fn both_tunnels(client: &Client, echo: u16) -> (Tunnel, Tunnel) {
    let forward = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    let reverse = client
        .open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None)
        .await
        .unwrap();
    (forward, reverse)
}

fn tunnels_on_server(server: &ServerHandle) -> Vec<u64> {
    server
        .core()
        .channels()
        .into_iter()
        .flat_map(|c| c.tunnels)
        .collect()
}

#[async_std::test]
async fn client_and_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<ServerHandle>();
    assert_send_sync::<netunnel_core::client::Tunnel>();
}

#[async_std::test]
async fn deleting_from_the_client_stops_both_sides() {
    let echo = support::echo_server();
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let tunnel = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    let port = tunnel.info().entrance.1;
    async_std::task::spawn_blocking(move || support::echo_roundtrip(port, 100_000, 9)).await;
    assert_eq!(tunnels_on_server(&server), vec![tunnel.info().id]);
    tunnel.close().await.unwrap();
    assert!(tunnel.is_stopped());
    assert!(tunnels_on_server(&server).is_empty());
    assert!(!support::is_listening(port));
    assert!(client.tunnels().is_empty());
}

#[async_std::test]
async fn deleting_from_the_server_stops_the_client_side() {
    let echo = support::echo_server();
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let (forward, reverse) = both_tunnels(&client, echo).await;
    let forward_port = forward.info().entrance.1;
    let reverse_port = reverse.info().entrance.1;
    async_std::task::spawn_blocking(move || support::echo_roundtrip(reverse_port, 100_000, 7))
        .await;
    let cid = client.channel_id().unwrap();
    server
        .core()
        .stop_tunnel(cid, forward.info().id)
        .await
        .unwrap();
    deadline(forward.stopped()).await;
    assert!(!support::is_listening(forward_port));
    server
        .core()
        .stop_tunnel(cid, reverse.info().id)
        .await
        .unwrap();
    deadline(reverse.stopped()).await;
    assert!(!support::is_listening(reverse_port));
    assert!(client.tunnels().is_empty());
    assert!(client.is_connected());
}

#[async_std::test]
async fn closing_the_channel_from_the_server_ends_the_clients_tunnels() {
    let echo = support::echo_server();
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let (forward, reverse) = both_tunnels(&client, echo).await;
    server
        .core()
        .close_channel(client.channel_id().unwrap())
        .unwrap();
    deadline(client.disconnected()).await;
    deadline(forward.stopped()).await;
    deadline(reverse.stopped()).await;
    assert!(!support::is_listening(forward.info().entrance.1));
    let reverse_port = reverse.info().entrance.1;
    support::wait_until("the reverse entrance to close", || {
        !support::is_listening(reverse_port)
    });
    // close_channel stops the tunnels itself; the channel leaves the list when
    // its serving task ends, which may be a moment later.
    support::wait_until("the channel to leave the server's list", || {
        server.core().channels().is_empty()
    });
}

#[async_std::test]
async fn closing_the_client_ends_its_tunnels_on_the_server() {
    let echo = support::echo_server();
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let reverse = client
        .open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None)
        .await
        .unwrap();
    let port = reverse.info().entrance.1;
    assert!(support::is_listening(port));
    deadline(client.close()).await;
    assert!(!support::is_listening(port));
    support::wait_until("the server to forget the channel", || {
        server.core().channels().is_empty()
    });
}

#[async_std::test]
async fn a_channel_never_connected_is_dropped() {
    let settings = ServerSettings {
        channel_connect_timeout: Duration::from_millis(200),
        ..ServerSettings::default()
    };
    let server = server(settings).await;
    let reply = transport(&server)
        .request(
            Method::Post,
            "/channels".into(),
            Some(serde_json::json!({"version": "test"})),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(server.core().channels().len(), 1);
    support::wait_until("the idle channel to be dropped", || {
        server.core().channels().is_empty()
    });
    // A connected channel is not dropped by the same timer.
    let client = client(&server).await;
    async_std::task::sleep(Duration::from_millis(400)).await;
    assert!(client.is_connected());
    assert_eq!(server.core().channels().len(), 1);
}

#[async_std::test]
async fn refused_destination_reports_not_allowed() {
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let err = client
        .open_tunnel_to_server("127.0.0.1", None, "localhost", 22)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
    assert!(client.tunnels().is_empty());
    assert!(client.is_connected());
}

/// Sends `message` on `stream` and reads it back from the echo service behind.
fn echo_once(stream: &mut std::net::TcpStream, message: &[u8]) {
    use std::io::{Read, Write};
    stream.write_all(message).unwrap();
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, message);
}

/// [`echo_once`] on a blocking thread; hands the connection back.
async fn echo_off_thread(
    mut stream: std::net::TcpStream,
    message: &'static [u8],
) -> std::net::TcpStream {
    async_std::task::spawn_blocking(move || {
        echo_once(&mut stream, message);
        stream
    })
    .await
}

/// `DELETE`s tunnel `tid` of channel `cid` through the REST API, in a thread of
/// its own; the thread returns the answer's status.
fn delete_in_background(
    server: &ServerHandle,
    cid: u64,
    tid: u64,
    force: bool,
) -> std::thread::JoinHandle<u16> {
    let port = server.local_addr().port();
    std::thread::spawn(move || {
        let body = format!(r#"{{"force": {force}}}"#);
        let path = format!("/channels/{cid}/tunnels/{tid}");
        support::http(port, "DELETE", &path, Some(&body)).0
    })
}

#[async_std::test]
async fn deleting_without_force_lets_open_connections_finish() {
    let echo = support::echo_server();
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let (forward, reverse) = both_tunnels(&client, echo).await;
    // The server's end of the forward tunnel is its exit, of the reverse one its entrance.
    for tunnel in [forward, reverse] {
        let port = tunnel.info().entrance.1;
        let open = support::connect(port);
        let open = echo_off_thread(open, b"before the deletion").await;
        let deleting = delete_in_background(
            &server,
            client.channel_id().unwrap(),
            tunnel.info().id,
            false,
        );
        support::wait_until("the server to remove the tunnel", || {
            !tunnels_on_server(&server).contains(&tunnel.info().id)
        });
        let mut open = echo_off_thread(open, b"while it drains").await;
        assert!(
            !deleting.is_finished(),
            "the deletion waits for the open connection"
        );
        if tunnel.info().reverse {
            support::wait_until("the server's entrance to stop listening", || {
                !support::is_listening(port)
            });
            echo_once(&mut open, b"still open");
        }
        drop(open);
        let status = async_std::task::spawn_blocking(move || deleting.join().unwrap()).await;
        assert_eq!(status, 200);
    }
}

#[async_std::test]
async fn deleting_with_force_closes_open_connections() {
    use std::io::Read;
    let echo = support::echo_server();
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let reverse = client
        .open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None)
        .await
        .unwrap();
    let open = support::connect(reverse.info().entrance.1);
    let mut open = echo_off_thread(open, b"before the deletion").await;
    let deleting = delete_in_background(
        &server,
        client.channel_id().unwrap(),
        reverse.info().id,
        true,
    );
    let status = async_std::task::spawn_blocking(move || deleting.join().unwrap()).await;
    assert_eq!(status, 200);
    let read = async_std::task::spawn_blocking(move || open.read(&mut [0; 16])).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the open connection was closed: {read:?}"
    );
}

#[async_std::test]
async fn draining_from_the_client_lets_open_connections_finish() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let echo = support::echo_server();
    let server = server(ServerSettings::default()).await;
    let client = client(&server).await;
    let (forward, reverse) = both_tunnels(&client, echo).await;
    for tunnel in [forward, reverse] {
        let port = tunnel.info().entrance.1;
        let id = tunnel.info().id;
        let open = support::connect(port);
        let open = echo_off_thread(open, b"before draining").await;
        let done = Arc::new(AtomicBool::new(false));
        let draining = {
            let done = Arc::clone(&done);
            let tunnel = tunnel.clone();
            async_std::task::spawn(async move {
                let result = tunnel.drain().await;
                done.store(true, Ordering::SeqCst);
                result
            })
        };
        // Forward: our entrance closes at once; reverse: the server's, once
        // it got our request.
        support::wait_until("the entrance to stop listening", || {
            !support::is_listening(port)
        });
        let open = echo_off_thread(open, b"while draining").await;
        assert!(
            !done.load(Ordering::SeqCst),
            "draining waits for the open connection"
        );
        drop(open);
        deadline(draining).await.unwrap();
        assert!(tunnel.is_stopped());
        assert!(!tunnels_on_server(&server).contains(&id));
    }
    assert!(client.tunnels().is_empty());
    assert!(client.is_connected());
}

/// A client plugin whose headers HTTP cannot carry.
struct BadHeaders(&'static str, &'static str);

impl netunnel_core::auth::ClientAuth for BadHeaders {
    fn authenticate(
        &self,
        _: netunnel_core::auth::AuthContext,
    ) -> futures::future::BoxFuture<'_, netunnel_core::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn is_authenticated(&self) -> futures::future::BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
    fn authorized_headers(
        &self,
    ) -> futures::future::BoxFuture<'_, netunnel_core::Result<netunnel_core::auth::Headers>> {
        let header = (self.0.to_string(), self.1.to_string());
        Box::pin(async move { Ok(vec![header]) })
    }
}

#[async_std::test]
async fn headers_http_cannot_carry_are_refused_not_sent() {
    let server = server(ServerSettings::default()).await;
    let url = format!("http://{}", server.local_addr());
    for (name, value) in [("bad name", "x"), ("X-Fine", "a\r\nX-Injected: yes")] {
        let options = netunnel_core::TransportOptions {
            auth: Some(Arc::new(BadHeaders(name, value))),
            ..Default::default()
        };
        let transport =
            HttpTransport::with_options(AsyncStdRuntime::shared(), &url, options).unwrap();
        let err = transport
            .request(Method::Get, "/version".into(), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid header"), "{err}");
        match transport.websocket("/channels/1/connect".into()).await {
            Ok(_) => panic!("a websocket opened with header {name:?}: {value:?}"),
            Err(err) => assert!(err.to_string().contains("invalid header"), "{err}"),
        }
    }
}
