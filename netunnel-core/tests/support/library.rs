//! Helpers over the public Rust API, for tests that run servers and clients
//! in process.

use std::sync::Arc;

use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::transport::Transport;
use netunnel_core::{AsyncStdRuntime, HttpTransport, Server, ServerOptions};

/// A plain HTTP transport to `server`.
pub fn transport_to(server: &Server) -> Arc<dyn Transport> {
    Arc::new(HttpTransport::new(AsyncStdRuntime::shared(), &server.url()).expect("transport"))
}

/// A client of `server`, connected, with the default settings.
pub async fn client_of(server: &Server) -> Client {
    Client::connected(
        AsyncStdRuntime::shared(),
        transport_to(server),
        ClientSettings::default(),
    )
    .await
    .expect("connect")
}

/// `future`, or a panic after [`super::WAIT`].
pub async fn deadline<F: std::future::Future>(future: F) -> F::Output {
    async_std::future::timeout(super::WAIT, future)
        .await
        .expect("timed out")
}

/// Waits (within [`super::WAIT`]) until `condition` holds.
pub async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let waited = async_std::future::timeout(super::WAIT, async {
        while !condition() {
            async_std::task::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    assert!(waited.await.is_ok(), "timed out waiting for {what}");
}

/// Options of a server on a free port whose configuration file, written in
/// `dir`, holds `config` (environment overrides off).
pub fn options_with_config(dir: &std::path::Path, config: &serde_json::Value) -> ServerOptions {
    let path = dir.join("netunnel.conf");
    std::fs::write(&path, config.to_string()).expect("write the configuration");
    ServerOptions::new()
        .port(0)
        .environment(false)
        .config_path(&path)
}

/// A server started with [`options_with_config`].
pub async fn server_with_config(dir: &std::path::Path, config: serde_json::Value) -> Server {
    deadline(Server::start(options_with_config(dir, &config)))
        .await
        .expect("start the server")
}
