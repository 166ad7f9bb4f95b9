//! Stopping a server fences its configuration changes: a `POST /peers` whose
//! check of the peer was still under way when the server stopped is refused,
//! so are proxy and allow-list changes made after the stop, and nothing is
//! written to the configuration file after the stop returned.
//!
//! The check is held at a gate (a transport that waits before its first
//! request, then goes on to the real peer) so the race is the same on every
//! run.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::sync::Arc;

use async_std::channel::{bounded, Receiver, Sender};
use futures::future::BoxFuture;
use netunnel_core::auth::NoAuth;
use netunnel_core::config::ConfigStore;
use netunnel_core::peer::{Connector, PeerLink, PeerManager};
use netunnel_core::transport::{Method, Reply, Transport, Upgraded};
use netunnel_core::wire::NewPeer;
use netunnel_core::{AsyncStdRuntime, ErrorKind, HttpConnector, Server, ServerOptions};
use serde_json::{json, Value};
use support::library::deadline;

/// Holds every request until `release` closes; says when the first arrived.
struct Gate {
    arrived: Sender<()>,
    release: Receiver<()>,
}

struct GatedConnector {
    inner: Arc<HttpConnector>,
    gate: Arc<Gate>,
}

impl Connector for GatedConnector {
    fn transport(&self, link: &PeerLink) -> netunnel_core::Result<Arc<dyn Transport>> {
        Ok(Arc::new(GatedTransport {
            inner: self.inner.transport(link)?,
            gate: Arc::clone(&self.gate),
        }))
    }
}

struct GatedTransport {
    inner: Arc<dyn Transport>,
    gate: Arc<Gate>,
}

impl Transport for GatedTransport {
    fn request(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> BoxFuture<'_, netunnel_core::Result<Reply>> {
        Box::pin(async move {
            let _ = self.gate.arrived.try_send(());
            let _ = self.gate.release.recv().await;
            self.inner.request(method, path, body).await
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
async fn a_peer_still_being_checked_when_the_server_stops_is_not_stored() {
    let peer = deadline(Server::start(
        ServerOptions::new().port(0).environment(false),
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("holder.json");
    let store = Arc::new(ConfigStore::open(Some(&path), None, &|_| None).unwrap());
    let (arrived, arrivals) = bounded(1);
    let (release, held) = bounded::<()>(1);
    let connector = Arc::new(GatedConnector {
        inner: HttpConnector::new(AsyncStdRuntime::shared()),
        gate: Arc::new(Gate {
            arrived,
            release: held,
        }),
    });
    let manager = Arc::new(PeerManager::new(
        AsyncStdRuntime::shared(),
        store,
        connector,
        Arc::new(NoAuth),
    ));
    let new = NewPeer::from_json(
        &json!({"name": "late", "target_netunnel_url": peer.url(), "auth_data": {}}),
    )
    .unwrap();
    let registering = async_std::task::spawn({
        let manager = Arc::clone(&manager);
        async move { manager.register(new).await }
    });

    deadline(arrivals.recv()).await.unwrap(); // the check is under way
    deadline(manager.close()).await;
    let stored_at_stop = std::fs::read_to_string(&path).unwrap();
    release.close(); // the peer answers now, after the stop

    let err = deadline(registering)
        .await
        .expect_err("a peer was registered after the stop");
    assert_eq!(err.kind(), ErrorKind::NotAllowed, "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), stored_at_stop);
    let stored: Value = serde_json::from_str(&stored_at_stop).unwrap();
    assert!(
        stored.get("peers").is_none_or(|peers| peers == &json!([])),
        "{stored}"
    );
    peer.stop().await;
}

#[async_std::test]
async fn proxy_and_allow_list_changes_after_a_stop_are_refused_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stopped.json");
    let options = ServerOptions::new()
        .port(0)
        .environment(false)
        .config_path(&path);
    let server = deadline(Server::start(options)).await.unwrap();
    let core = Arc::clone(server.core());
    deadline(server.stop()).await;
    let before = std::fs::read(&path).unwrap();
    let allowed = netunnel_core::server::AllowList(
        [("10.0.0.1".to_string(), "*".to_string())]
            .into_iter()
            .collect(),
    );
    let allowed_before = core.config().allowed_destinations();
    let refused = deadline(core.set_allowed_tunnel_destinations(allowed))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotAllowed, "{refused}");
    assert!(refused.to_string().contains("stopping"), "{refused}");
    assert_eq!(core.config().allowed_destinations(), allowed_before);
    let request = netunnel_core::wire::HttpProxyRequest::from_json(&json!({
        "proxy_url": "http://127.0.0.1:3128",
        "check_proxy": false,
    }))
    .unwrap();
    let refused = deadline(core.set_http_proxy(request)).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotAllowed, "{refused}");
    assert!(refused.to_string().contains("stopping"), "{refused}");
    assert!(
        core.config().http_proxy().is_none(),
        "the refused proxy is in use"
    );
    let refused = deadline(core.factory_reset(false)).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotAllowed, "{refused}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was written after the stop"
    );
}
