//! `Server` and `ServerOptions`, the embedding API's way to run a server: in
//! one process, over real loopback sockets.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use support::library::client_of;

use std::sync::Arc;

use netunnel_core::{AsyncStdRuntime, ErrorKind, HttpTransport, Server, ServerOptions};

async fn deadline<F: std::future::Future>(future: F) -> F::Output {
    async_std::future::timeout(support::WAIT, future)
        .await
        .expect("timed out")
}

/// Waits (within [`support::WAIT`]) until nothing listens on `port`.
async fn until_closed(port: u16) {
    deadline(async {
        while support::is_listening(port) {
            async_std::task::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}

fn options() -> ServerOptions {
    ServerOptions::new().port(0).environment(false)
}

#[async_std::test]
async fn a_server_on_a_free_port_serves_and_stops_completely() {
    let echo = support::echo_server();
    let server = deadline(Server::start(options())).await.unwrap();
    let port = server.local_addr().port();
    assert_ne!(port, 0);
    assert_eq!(server.url(), format!("http://127.0.0.1:{port}"));
    let client = client_of(&server).await;
    let tunnel = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    let entrance = tunnel.info().entrance.1;
    async_std::task::spawn_blocking(move || support::echo_roundtrip(entrance, 100_000, 1)).await;
    // The snapshot shows the channel and its tunnel.
    let channels = server.channels();
    assert_eq!(channels.len(), 1, "{channels:?}");
    assert_eq!(channels[0].tunnels, vec![tunnel.info().id]);
    // Someone waits for the stop; a clone stops it.
    let waiting = {
        let server = server.clone();
        async_std::task::spawn(async move { server.wait().await })
    };
    deadline(server.clone().stop()).await;
    deadline(waiting).await;
    assert!(!support::is_listening(port), "still listening after stop");
    assert!(server.channels().is_empty());
    deadline(client.disconnected()).await;
    // Stopping again, or waiting again, returns at once.
    deadline(server.stop()).await;
    deadline(server.wait()).await;
}

#[async_std::test]
async fn a_server_that_cannot_start_says_why() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Server::start(options().port(port)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netunnel.conf");
    std::fs::write(&path, "{ not json").unwrap();
    let err = Server::start(options().config_path(&path))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let source = std::error::Error::source(&err).expect("the configuration error");
    assert!(
        source
            .downcast_ref::<netunnel_core::config::ConfigError>()
            .is_some(),
        "{source:?}"
    );

    let err = Server::start(options().secret_key("not a key"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(
        !err.to_string().contains("not a key"),
        "the key leaked: {err}"
    );
}

#[async_std::test]
async fn static_tunnels_in_the_configuration_are_restored_at_start() {
    let echo = support::echo_server();
    let peer = deadline(Server::start(options())).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netunnel.conf");
    let local = support::free_port();
    let config = serde_json::json!({
        "peers": [{
            "id": 1,
            "name": "peer",
            "target_netunnel_url": peer.url(),
            "auth_data": {},
            "static_tunnels": [{
                "id": 1,
                "tunnel_remote_address": "127.0.0.1",
                "tunnel_remote_port": echo,
                "tunnel_local_address": "127.0.0.1",
                "tunnel_local_port": local,
            }],
        }],
    });
    std::fs::write(&path, config.to_string()).unwrap();
    let server = deadline(Server::start(options().config_path(&path)))
        .await
        .unwrap();
    async_std::task::spawn_blocking(move || {
        support::wait_until("the static tunnel to listen", || {
            support::is_listening(local)
        });
        support::echo_roundtrip(local, 10_000, 2);
    })
    .await;
    deadline(server.stop()).await;
    assert!(
        !support::is_listening(local),
        "the static tunnel outlived its server"
    );
    deadline(peer.stop()).await;
}

/// Lets everyone in and remembers what it was asked.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<netunnel_core::auth::AuthRequest>>);

impl netunnel_core::auth::ServerAuth for Recorder {
    fn is_authenticated<'a>(
        &'a self,
        request: &'a netunnel_core::auth::AuthRequest,
    ) -> futures::future::BoxFuture<'a, bool> {
        self.0.lock().unwrap().push(request.clone());
        Box::pin(async { true })
    }

    fn authenticate<'a>(
        &'a self,
        request: &'a netunnel_core::auth::AuthRequest,
    ) -> futures::future::BoxFuture<'a, netunnel_core::auth::AuthResponse> {
        self.0.lock().unwrap().push(request.clone());
        Box::pin(async {
            netunnel_core::auth::AuthResponse::json(200, &serde_json::json!({"token": "t"}))
        })
    }

    fn client_for_peer<'a>(
        &'a self,
        _: &'a std::collections::BTreeMap<String, String>,
    ) -> futures::future::BoxFuture<
        'a,
        netunnel_core::Result<Arc<dyn netunnel_core::auth::ClientAuth>>,
    > {
        Box::pin(async { Ok(Arc::new(netunnel_core::auth::NoAuth) as Arc<_>) })
    }
}

#[async_std::test]
async fn auth_plugins_see_the_peer_address_and_scheme_and_never_an_oversized_body() {
    let recorder = Arc::new(Recorder::default());
    let dir = tempfile::tempdir().unwrap();
    let pki = support::make_pki(dir.path());
    for tls in [false, true] {
        let mut options = options().auth(recorder.clone());
        if tls {
            options = options.tls_files(&pki.cert, &pki.key);
        }
        let server = Server::start(options).await.unwrap();
        let transport_options = netunnel_core::TransportOptions {
            tls: netunnel_core::frontend::TlsOptions {
                ca_cert: Some(pki.ca.clone()),
                insecure: false,
            },
            ..Default::default()
        };
        let url = server.url().replace("127.0.0.1", "localhost");
        let transport =
            HttpTransport::with_options(AsyncStdRuntime::shared(), &url, transport_options)
                .unwrap();
        use netunnel_core::transport::{Method, Transport};
        let reply = transport
            .request(Method::Get, "/version".into(), None)
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
        let seen = recorder.0.lock().unwrap().pop().unwrap();
        assert_eq!(seen.scheme, if tls { "https" } else { "http" });
        let addr = seen.remote_addr.expect("the peer address");
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");

        // An /authenticate body over 64 KiB is refused before the plugin sees it.
        let big = serde_json::json!({ "data": "x".repeat(70 * 1024) });
        let reply = transport
            .request(Method::Post, "/authenticate".into(), Some(big))
            .await
            .unwrap();
        assert_eq!(reply.status, 413);
        assert_eq!(reply.json().unwrap_err().kind(), ErrorKind::TooLarge);
        assert!(recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.path != "/authenticate"));
        // A REST body over 1 MiB: 413 as well.
        let huge = serde_json::json!({ "version": "x".repeat(1 << 20) });
        let reply = transport
            .request(Method::Post, "/channels".into(), Some(huge))
            .await
            .unwrap();
        assert_eq!(reply.status, 413);
        server.stop().await;
    }
}

/// Lets everyone in, but never builds a client plugin for a peer: a server
/// restoring a static tunnel with it stays in `Server::start`.
#[derive(Default)]
struct PeersNeverReady(std::sync::atomic::AtomicBool);

impl netunnel_core::auth::ServerAuth for PeersNeverReady {
    fn is_authenticated<'a>(
        &'a self,
        _: &'a netunnel_core::auth::AuthRequest,
    ) -> futures::future::BoxFuture<'a, bool> {
        Box::pin(async { true })
    }

    fn authenticate<'a>(
        &'a self,
        _: &'a netunnel_core::auth::AuthRequest,
    ) -> futures::future::BoxFuture<'a, netunnel_core::auth::AuthResponse> {
        Box::pin(async { netunnel_core::auth::AuthResponse::json(200, &serde_json::json!({})) })
    }

    fn client_for_peer<'a>(
        &'a self,
        _: &'a std::collections::BTreeMap<String, String>,
    ) -> futures::future::BoxFuture<
        'a,
        netunnel_core::Result<Arc<dyn netunnel_core::auth::ClientAuth>>,
    > {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        Box::pin(futures::future::pending())
    }
}

#[async_std::test]
async fn a_start_given_up_midway_leaves_no_server_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netunnel.conf");
    let local = support::free_port();
    let config = serde_json::json!({"peers": [{
        "id": 1, "name": "far", "target_netunnel_url": "http://127.0.0.1:9",
        "auth_data": {}, "static_tunnels": [{
            "id": 1, "tunnel_remote_address": "127.0.0.1", "tunnel_remote_port": 22,
            "tunnel_local_address": "127.0.0.1", "tunnel_local_port": local}]}]});
    std::fs::write(&path, config.to_string()).unwrap();
    let port = support::free_port();
    let auth = Arc::new(PeersNeverReady::default());
    let starting = async_std::task::spawn(Server::start(
        options()
            .port(port)
            .config_path(&path)
            .auth(Arc::clone(&auth) as Arc<_>),
    ));
    // Listening, and restoring the static tunnel: the caller gives up.
    deadline(async {
        while !auth.0.load(std::sync::atomic::Ordering::SeqCst) {
            async_std::task::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(support::is_listening(port));
    assert!(
        starting.cancel().await.is_none(),
        "start cannot have finished"
    );
    until_closed(port).await;
}

#[async_std::test]
async fn dropping_the_last_handle_stops_the_server() {
    let echo = support::echo_server();
    let server = deadline(Server::start(options())).await.unwrap();
    let port = server.local_addr().port();
    let clone = server.clone();
    let client = client_of(&server).await;
    drop(server);
    assert!(support::is_listening(port), "a clone is still held");
    drop(clone);
    deadline(client.disconnected()).await;
    // The stop runs on a task of its own: channels close at once, and the
    // accept loop lets go of the listener when it next wakes.
    until_closed(port).await;
    let err = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChannelClosed, "{err}");
}
