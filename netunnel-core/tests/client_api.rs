//! The client's lifecycle as NETunnel 1.0.x users know it: created
//! unconnected, connected, closed (twice is fine), connected again; tunnels
//! with `health_check`, `stop_local`, idempotent stops; an abandoned open
//! leaves nothing behind on the server.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use support::library::{client_of, transport_to};

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::transport::Upgraded;
use netunnel_core::transport::{Method, Reply, Transport};
use netunnel_core::{AsyncStdRuntime, ErrorKind, HttpTransport, Server, ServerOptions};

async fn deadline<F: std::future::Future>(future: F) -> F::Output {
    async_std::future::timeout(support::WAIT, future)
        .await
        .expect("timed out")
}

async fn server() -> Server {
    Server::start(ServerOptions::new().port(0).environment(false))
        .await
        .unwrap()
}

fn tunnels_on(server: &Server) -> Vec<u64> {
    server
        .channels()
        .into_iter()
        .flat_map(|channel| channel.tunnels)
        .collect()
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let waited = async_std::future::timeout(support::WAIT, async {
        while !condition() {
            async_std::task::sleep(Duration::from_millis(10)).await;
        }
    });
    if waited.await.is_err() {
        panic!("timed out waiting for {what}");
    }
}

#[async_std::test]
async fn a_client_connects_closes_and_connects_again() {
    let echo = support::echo_server();
    let server = server().await;
    let client = Client::new(
        AsyncStdRuntime::shared(),
        transport_to(&server),
        ClientSettings::default(),
    );
    assert!(!client.is_connected());
    assert_eq!(client.channel_id(), None);
    let refused = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ChannelClosed);
    deadline(client.disconnected()).await; // not connected: at once

    client.connect().await.unwrap();
    let first = client.channel_id().unwrap();
    client.connect().await.unwrap(); // connected: nothing happens
    assert_eq!(client.channel_id(), Some(first));
    let tunnel = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    assert_eq!(tunnels_on(&server), vec![tunnel.info().id]);

    client.close().await;
    client.close().await;
    assert!(!client.is_connected());
    assert!(tunnel.is_stopped() && !tunnel.health_check());
    wait_for("the channel to go", || server.channels().is_empty()).await;

    client.connect().await.unwrap();
    let second = client.channel_id().unwrap();
    assert_ne!(first, second, "a new channel after close");
    let again = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    let entrance = again.info().entrance.1;
    async_std::task::spawn_blocking(move || support::echo_roundtrip(entrance, 10_000, 1)).await;
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn a_client_dropped_by_its_server_can_connect_again() {
    let server = server().await;
    let client = client_of(&server).await;
    server
        .core()
        .close_channel(client.channel_id().unwrap())
        .unwrap();
    deadline(client.disconnected()).await;
    assert!(!client.is_connected());
    assert_eq!(
        client.channel_id(),
        None,
        "a channel id after the channel ended"
    );
    client.connect().await.unwrap();
    assert!(client.is_connected());
    assert_eq!(
        client.remote_version().await.unwrap(),
        netunnel_core::VERSION
    );
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn the_way_to_the_server_changes_only_while_not_connected() {
    let (one, two) = (server().await, server().await);
    let client = client_of(&one).await;
    let err = client.set_transport(transport_to(&two)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    client.close().await;
    client.set_transport(transport_to(&two)).unwrap();
    client.connect().await.unwrap();
    assert_eq!(two.channels().len(), 1);
    wait_for("the first server to see the channel go", || {
        one.channels().is_empty()
    })
    .await;
    client.close().await;
    one.stop().await;
    two.stop().await;
}

#[async_std::test]
async fn tunnels_check_their_health_and_stop_once() {
    let echo = support::echo_server();
    let server = server().await;
    let client = client_of(&server).await;
    let forward = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    let reverse = client
        .open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None)
        .await
        .unwrap();
    deadline(forward.wait_ready()).await;
    deadline(reverse.wait_ready()).await;
    assert!(forward.health_check() && reverse.health_check());
    forward.close().await.unwrap();
    forward.close().await.unwrap();
    forward.drain().await.unwrap();
    assert!(!forward.health_check());
    assert!(!support::is_listening(forward.info().entrance.1));

    // A local-only stop leaves the server's side to the server.
    reverse.stop_local().await;
    assert!(reverse.is_stopped() && !reverse.health_check());
    assert_eq!(tunnels_on(&server), vec![reverse.info().id]);
    reverse.close().await.unwrap(); // stopped already: nothing to do
    client.close().await;
    wait_for("the channel to go", || server.channels().is_empty()).await;
    server.stop().await;
}

#[async_std::test]
async fn a_local_drain_lets_open_connections_finish() {
    use async_std::io::{ReadExt, WriteExt};
    let echo = support::echo_server();
    let server = server().await;
    let client = client_of(&server).await;
    let forward = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    let entrance = forward.info().entrance.clone();
    let mut conn = async_std::net::TcpStream::connect((entrance.0.as_str(), entrance.1))
        .await
        .unwrap();
    let mut echoed = [0u8; 4];
    conn.write_all(b"ping").await.unwrap();
    deadline(conn.read_exact(&mut echoed)).await.unwrap();
    let draining = async_std::task::spawn({
        let forward = forward.clone();
        async move { forward.drain_local().await }
    });
    wait_for("the entrance to close", || {
        !support::is_listening(entrance.1)
    })
    .await;
    assert!(!forward.is_stopped(), "a connection is still open");
    conn.write_all(b"pong").await.unwrap();
    deadline(conn.read_exact(&mut echoed)).await.unwrap();
    assert_eq!(&echoed, b"pong");
    drop(conn);
    deadline(draining).await;
    assert!(forward.is_stopped());
    // Here only: the server still has its side.
    assert_eq!(tunnels_on(&server), vec![forward.info().id]);
    client.close().await;
    server.stop().await;
}

/// Reaches the server, except that websockets whose path contains the given
/// text never open (the attempt waits forever); counts those attempts.
struct StuckWebsockets(
    Arc<dyn Transport>,
    &'static str,
    Arc<std::sync::atomic::AtomicUsize>,
);

impl StuckWebsockets {
    fn new(inner: Arc<dyn Transport>, stuck: &'static str) -> Self {
        StuckWebsockets(inner, stuck, Default::default())
    }
}

impl Transport for StuckWebsockets {
    fn request(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
    ) -> BoxFuture<'_, netunnel_core::Result<Reply>> {
        self.0.request(method, path, body)
    }

    fn websocket(&self, path: String) -> BoxFuture<'_, netunnel_core::Result<Upgraded>> {
        if path.contains(self.1) {
            self.2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(futures::future::pending())
        } else {
            self.0.websocket(path)
        }
    }

    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[async_std::test]
async fn an_abandoned_open_leaves_no_tunnel_on_the_server() {
    let echo = support::echo_server();
    let server = server().await;
    let client = Client::connected(
        AsyncStdRuntime::shared(),
        Arc::new(StuckWebsockets::new(transport_to(&server), "/tunnels/")),
        ClientSettings::default(),
    )
    .await
    .unwrap();
    // The server creates the tunnel; its first spare never arrives; the
    // caller gives up and drops the open.
    let opening = {
        let client = client.clone();
        async_std::task::spawn(async move {
            client
                .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
                .await
        })
    };
    wait_for("the server and the client to hold the tunnel", || {
        tunnels_on(&server).len() == 1 && client.tunnels().len() == 1
    })
    .await;
    assert!(
        opening.cancel().await.is_none(),
        "the open cannot have finished"
    );
    wait_for("the abandoned tunnel to be deleted", || {
        tunnels_on(&server).is_empty() && client.tunnels().is_empty()
    })
    .await;
    assert_eq!(server.channels().len(), 1, "the channel itself stays");
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn close_cuts_short_a_connect_that_hangs() {
    let server = server().await;
    let stuck = Arc::new(StuckWebsockets::new(transport_to(&server), "/connect"));
    let attempts = Arc::clone(&stuck.2);
    let client = Client::new(AsyncStdRuntime::shared(), stuck, ClientSettings::default());
    let connecting = {
        let client = client.clone();
        async_std::task::spawn(async move { client.connect().await })
    };
    wait_for("the control websocket to be asked for", || {
        attempts.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    // Well inside the transport's own 30 s bound on a websocket handshake.
    async_std::future::timeout(Duration::from_secs(5), client.close())
        .await
        .expect("close waited for the hung connect");
    let err = deadline(connecting).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.to_string().contains("closed while connecting"), "{err}");
    assert!(!client.is_connected());
    server.stop().await;
}

/// Reaches the server, but holds back its answer to a tunnel's creation until
/// the test lets it through.
struct HeldTunnelAnswers {
    inner: Arc<dyn Transport>,
    release: async_channel::Receiver<()>,
}

impl Transport for HeldTunnelAnswers {
    fn request(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
    ) -> BoxFuture<'_, netunnel_core::Result<Reply>> {
        Box::pin(async move {
            let held = method == Method::Post && path.ends_with("/tunnels");
            let reply = self.inner.request(method, path, body).await;
            if held {
                let _ = self.release.recv().await;
            }
            reply
        })
    }

    fn websocket(&self, path: String) -> BoxFuture<'_, netunnel_core::Result<Upgraded>> {
        self.inner.websocket(path)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[async_std::test]
async fn an_open_abandoned_before_the_server_answered_leaves_no_tunnel() {
    let echo = support::echo_server();
    let server = server().await;
    let (release, held) = async_channel::unbounded();
    let client = Client::connected(
        AsyncStdRuntime::shared(),
        Arc::new(HeldTunnelAnswers {
            inner: transport_to(&server),
            release: held,
        }),
        ClientSettings::default(),
    )
    .await
    .unwrap();
    for reverse in [false, true] {
        let opening = {
            let client = client.clone();
            async_std::task::spawn(async move {
                if reverse {
                    client
                        .open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None)
                        .await
                } else {
                    client
                        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
                        .await
                }
            })
        };
        // The server created the tunnel; its answer has not reached the
        // client, which gives up.
        wait_for("the server to hold the tunnel", || {
            tunnels_on(&server).len() == 1
        })
        .await;
        assert!(
            opening.cancel().await.is_none(),
            "the open cannot have finished"
        );
        release.send(()).await.unwrap();
        wait_for("the abandoned tunnel to be deleted", || {
            tunnels_on(&server).is_empty()
        })
        .await;
        assert!(client.tunnels().is_empty(), "reverse: {reverse}");
    }
    assert_eq!(server.channels().len(), 1, "the channel itself stays");
    client.close().await;
    server.stop().await;
}

/// A client plugin that authenticates from another thread, as a Python or C
/// plugin would, and fails when told to with its own error.
struct FromAnotherThread {
    fail: bool,
    seen_url: std::sync::Mutex<Option<String>>,
    done: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct PluginSaysNo;

impl std::fmt::Display for PluginSaysNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin says no")
    }
}

impl std::error::Error for PluginSaysNo {}

impl netunnel_core::auth::ClientAuth for FromAnotherThread {
    fn authenticate(
        &self,
        context: netunnel_core::auth::AuthContext,
    ) -> BoxFuture<'_, netunnel_core::Result<()>> {
        Box::pin(async move {
            *self.seen_url.lock().unwrap() = Some(context.server_url().to_string());
            // The context is owned: it moves to a thread of its own.
            let version = std::thread::spawn(move || {
                async_std::task::block_on(context.request(Method::Get, "/version", None))
            })
            .join()
            .unwrap()?;
            assert_eq!(version.status, 200);
            if self.fail {
                return Err(netunnel_core::Error::plugin(PluginSaysNo));
            }
            self.done.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
    }

    fn is_authenticated(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { self.done.load(std::sync::atomic::Ordering::SeqCst) })
    }

    fn authorized_headers(
        &self,
    ) -> BoxFuture<'_, netunnel_core::Result<netunnel_core::auth::Headers>> {
        Box::pin(async { Ok(vec![("X-Plugin".to_string(), "yes".to_string())]) })
    }
}

#[async_std::test]
async fn client_plugins_get_an_owned_context_and_their_errors_come_back() {
    let server = server().await;
    for fail in [false, true] {
        let plugin = Arc::new(FromAnotherThread {
            fail,
            seen_url: Default::default(),
            done: Default::default(),
        });
        let options = netunnel_core::TransportOptions {
            auth: Some(plugin.clone()),
            ..Default::default()
        };
        let transport =
            HttpTransport::with_options(AsyncStdRuntime::shared(), &server.url(), options).unwrap();
        let connected = Client::connected(
            AsyncStdRuntime::shared(),
            Arc::new(transport),
            ClientSettings::default(),
        )
        .await;
        assert_eq!(
            plugin.seen_url.lock().unwrap().as_deref(),
            Some(server.url().as_str())
        );
        match connected {
            Ok(client) => {
                assert!(!fail);
                client.close().await;
            }
            Err(err) => {
                assert!(fail, "{err}");
                assert_eq!(err.kind(), ErrorKind::Plugin);
                let source = std::error::Error::source(&err).expect("the plugin's error");
                assert!(source.downcast_ref::<PluginSaysNo>().is_some(), "{source}");
            }
        }
    }
    server.stop().await;
}

#[async_std::test]
async fn raw_calls_keep_every_field_and_the_error_rules() {
    let server = server().await;
    let client = client_of(&server).await;
    let proxy = client
        .request_json(Method::Get, "/config/http-proxy", None)
        .await
        .unwrap();
    assert_eq!(proxy, serde_json::json!({}));
    let peers = client
        .request_json(Method::Get, "/peers", None)
        .await
        .unwrap();
    assert_eq!(peers, serde_json::json!([]));
    let missing = client
        .request_json(Method::Get, "/peers/7", None)
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
    client.close().await;
    let closed = client
        .request_json(Method::Get, "/peers", None)
        .await
        .unwrap_err();
    assert_eq!(closed.kind(), ErrorKind::ChannelClosed);
    server.stop().await;
}

#[test]
fn what_a_binding_awaits_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let start = Server::start(ServerOptions::new().port(0));
    assert_send(&start);
    let client = Client::new(
        AsyncStdRuntime::shared(),
        Arc::new(HttpTransport::new(AsyncStdRuntime::shared(), "http://127.0.0.1:1").unwrap()),
        ClientSettings::default(),
    );
    let connect = client.connect();
    assert_send(&connect);
    let open = client.open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", 1);
    assert_send(&open);
    let reverse = client.open_tunnel_to_client("127.0.0.1", 1, "127.0.0.1", None);
    assert_send(&reverse);
    let close = client.close();
    assert_send(&close);
    let raw = client.request_json(Method::Get, "/peers", None);
    assert_send(&raw);
}
