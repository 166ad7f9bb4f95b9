//! [`Server`]: a whole NETunnel server (configuration, HTTP, peers) in one
//! object, the way the CLI, the C library and the Python package start one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::{NoAuth, ServerAuth};
use crate::config::{process_env, ConfigStore, KeySource};
use crate::error::{Error, Result};
use crate::runtime::RuntimeRef;
use crate::server::{ChannelInfo, ServerCore, ServerSettings};
use crate::sync::StopSignal;
use crate::ws::Heartbeat;

use super::{AsyncStdRuntime, HttpConnector, ServerHandle};
use crate::instance::{record, Instance, InstanceKind, TARGET_SERVER};

/// How a [`Server`] is set up. Every setting has the default NETunnel 1.0.x
/// has: `127.0.0.1:4040`, stateless, no TLS, no authentication, 20 s heartbeat.
pub struct ServerOptions {
    host: String,
    port: u16,
    config_path: Option<PathBuf>,
    secret_key: Option<String>,
    tls: Option<(PathBuf, PathBuf)>,
    auth: Option<Arc<dyn ServerAuth>>,
    heartbeat: Heartbeat,
    environment: bool,
    runtime: Option<RuntimeRef>,
    limits: Option<crate::server::Limits>,
    request_timeout: Option<std::time::Duration>,
    metrics: bool,
    metrics_tunnel_limit: usize,
    instance: Instance,
}

impl Clone for ServerOptions {
    /// The same settings, for another server: the clone's records carry an
    /// instance of its own.
    fn clone(&self) -> Self {
        ServerOptions {
            host: self.host.clone(),
            port: self.port,
            config_path: self.config_path.clone(),
            secret_key: self.secret_key.clone(),
            tls: self.tls.clone(),
            auth: self.auth.clone(),
            heartbeat: self.heartbeat,
            environment: self.environment,
            runtime: self.runtime.clone(),
            limits: self.limits,
            request_timeout: self.request_timeout,
            metrics: self.metrics,
            metrics_tunnel_limit: self.metrics_tunnel_limit,
            instance: Instance::new(InstanceKind::Server),
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    /// Shows every setting but the secret key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("config_path", &self.config_path)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "******"))
            .field("tls", &self.tls)
            .field("auth", &self.auth.is_some())
            .field("heartbeat", &self.heartbeat)
            .field("environment", &self.environment)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            host: "127.0.0.1".into(),
            port: 4040,
            config_path: None,
            secret_key: None,
            tls: None,
            auth: None,
            heartbeat: Heartbeat::default(),
            environment: true,
            runtime: None,
            limits: None,
            request_timeout: None,
            metrics: false,
            metrics_tunnel_limit: crate::metrics::DEFAULT_TUNNEL_LIMIT,
            instance: Instance::new(InstanceKind::Server),
        }
    }
}

impl ServerOptions {
    /// The defaults (see [`ServerOptions`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// What the records of the server started with these options will carry
    /// as their `instance` key ([`Server::instance`]). Known before the start,
    /// so that a binding can route the start-up records to the right logger.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// The address to listen on.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port to listen on; 0 picks a free one ([`Server::local_addr`] says which).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Keeps settings, peers and static tunnels in this JSON file (created if
    /// missing). Without one the server is stateless.
    pub fn config_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_path = Some(path.into());
        self
    }

    /// No configuration file (the default): settings live in memory only.
    pub fn stateless(mut self) -> Self {
        self.config_path = None;
        self
    }

    /// The key that encrypts secrets in the configuration (urlsafe base64 of
    /// 32 bytes); it wins over `NETUNNEL_SECRET_KEY` and the file's own.
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(key.into());
        self
    }

    /// Serves HTTPS with this PEM certificate chain and private key.
    pub fn tls_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Asks `auth` about every request (default: everyone is let in).
    pub fn auth(mut self, auth: Arc<dyn ServerAuth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Pings idle control channels per `heartbeat`.
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Whether `NETUNNEL_*` environment variables supply defaults and the
    /// secret key, as with NETunnel 1.0.x (default `true`).
    pub fn environment(mut self, read: bool) -> Self {
        self.environment = read;
        self
    }

    /// Runs on `runtime` instead of async-std's global executor.
    pub fn runtime(mut self, runtime: RuntimeRef) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Caps on what the server carries at once. Default: the configuration
    /// file's `max_*` keys over [`crate::server::Limits::default`]; given
    /// here, these win over the file (a stateless server has no file).
    pub fn limits(mut self, limits: crate::server::Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// How long a client may take to send the head of its first request on
    /// a connection (408 past it), and then each request body (400 past
    /// it). Default 30 s.
    pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Whether `GET /metrics` answers with the Prometheus text of
    /// [`crate::server::ServerCore::metrics`], behind the auth plugin as
    /// every route. Default off: 404.
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// How many tunnels the metrics list with series of their own (default
    /// [`crate::metrics::DEFAULT_TUNNEL_LIMIT`]); the rest count in the totals.
    pub fn metrics_tunnel_limit(mut self, limit: usize) -> Self {
        self.metrics_tunnel_limit = limit;
        self
    }
}

/// A running NETunnel server. Cheap to clone; every clone is the same server.
/// [`Server::stop`] stops it and returns once it is gone; dropping the last
/// clone stops it in the background (as does a [`Server::start`] dropped
/// before it returned).
///
/// ```
/// # async_std::task::block_on(async {
/// use netunnel_core::{Server, ServerOptions};
///
/// let server = Server::start(ServerOptions::new().port(0)).await?;
/// let url = server.url();
/// assert!(url.starts_with("http://127.0.0.1:"));
/// assert!(server.channels().is_empty());
/// server.stop().await;
/// server.wait().await; // returns at once: it stopped
/// # Ok::<(), netunnel_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    handle: ServerHandle,
    instance: Instance,
    scheme: &'static str,
    stopping: Arc<StopSignal>,
    stopped: Arc<StopSignal>,
    /// Stops the server when the last clone goes.
    _owned: Arc<StopOnDrop>,
}

impl Server {
    /// Opens the configuration, listens, restores the static tunnels of the
    /// configured peers, and returns once all of that is done.
    pub async fn start(options: ServerOptions) -> Result<Server> {
        let instance = options.instance;
        instance.scope(Self::start_as(instance, options)).await
    }

    async fn start_as(instance: Instance, options: ServerOptions) -> Result<Server> {
        let rt = options
            .runtime
            .clone()
            .unwrap_or_else(AsyncStdRuntime::shared);
        // Reading, and at the first start writing (fsync included), the file:
        // on a blocking thread, not on the executor's.
        let (path, key, environment) = (
            options.config_path.clone(),
            options.secret_key.clone(),
            options.environment,
        );
        let store = crate::runtime::unblock(&*rt, move || {
            let no_env = |_: &str| None;
            let env: crate::config::EnvLookup<'_> =
                if environment { &process_env } else { &no_env };
            ConfigStore::open(path.as_deref(), key.as_deref(), env)
        })
        .await
        .ok_or_else(|| Error::Config("opening the configuration panicked".into()))?
        .map_err(Error::from)?;
        match store.path() {
            Some(path) => record!(
                info,
                TARGET_SERVER,
                "Using configuration file {}",
                path.display()
            ),
            // Debug only: `netunnel server` warns about stateless mode itself,
            // and an embedder chose it by giving no path.
            None => record!(
                debug,
                TARGET_SERVER,
                "No configuration file: settings live in memory only"
            ),
        }
        if store.key_source() == KeySource::Generated && store.path().is_some() {
            record!(
                info,
                TARGET_SERVER,
                "Generated a secret key and stored it in the configuration file"
            );
        }
        for warning in store.warnings() {
            record!(warn, TARGET_SERVER, "{warning}");
        }
        let tls = match &options.tls {
            Some((cert, key)) => Some(super::tls::server_config(cert, key)?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let settings = ServerSettings {
            heartbeat: Some(options.heartbeat),
            limits: options
                .limits
                .unwrap_or_else(|| crate::server::Limits::from_config(&store)),
            request_timeout: options
                .request_timeout
                .unwrap_or(ServerSettings::default().request_timeout),
            metrics: options.metrics,
            metrics_tunnel_limit: options.metrics_tunnel_limit,
            ..ServerSettings::default()
        };
        let auth = options.auth.clone().unwrap_or_else(|| Arc::new(NoAuth));
        let connector = HttpConnector::new(Arc::clone(&rt));
        let core = ServerCore::new(rt, settings, Arc::new(store), connector, auth);
        let handle = ServerHandle::start_with_tls(core, &options.host, options.port, tls).await?;
        record!(
            info,
            TARGET_SERVER,
            "Starting server on {}",
            handle.local_addr()
        );
        let owned = Arc::new(StopOnDrop(handle.clone()));
        if let Err(err) = handle.core().start_peers().await {
            handle.stop().await;
            return Err(err);
        }
        Ok(Server {
            _owned: owned,
            handle,
            instance,
            scheme,
            stopping: Arc::new(StopSignal::new()),
            stopped: Arc::new(StopSignal::new()),
        })
    }

    /// What this server's log records carry as their `instance` key.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// The address the server listens on (the actual port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The URL clients reach the server at, e.g. `http://127.0.0.1:4040`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.local_addr())
    }

    /// A snapshot of the channels and their tunnels.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        self.handle.core().channels()
    }

    /// The server's state, for what this facade does not cover.
    pub fn core(&self) -> &Arc<ServerCore> {
        self.handle.core()
    }

    /// Stops listening, closes every channel (their tunnels with them) and
    /// every static tunnel, and returns once they are gone. Calling it again
    /// does nothing.
    pub async fn stop(&self) {
        if self.stopping.fire() {
            // In a task of its own: a caller that gives up waiting (drops this
            // future) leaves the stop to finish, and later calls to wait on.
            let server = self.clone();
            let stopping = self.instance.scope(async move {
                server.stop_here().await;
            });
            self.core().runtime().spawn(Box::pin(stopping));
        }
        self.stopped.wait().await;
    }

    async fn stop_here(&self) {
        self.handle.stop().await;
        self.handle.core().wait_channels_closed().await;
        record!(
            info,
            TARGET_SERVER,
            "Server on {} stopped",
            self.local_addr()
        );
        self.stopped.fire();
    }

    /// Completes once [`Server::stop`] has finished (from any clone).
    pub async fn wait(&self) {
        self.stopped.wait().await;
    }
}

/// Stops the server it holds when dropped: held by every [`Server`] clone,
/// and by [`Server::start`] from the moment it listens.
struct StopOnDrop(ServerHandle);

impl std::fmt::Debug for StopOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopOnDrop")
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // Idempotent: after `Server::stop` this finds nothing left to stop.
        let handle = self.0.clone();
        let rt = Arc::clone(handle.core().runtime());
        rt.spawn(crate::instance::inherit(async move {
            handle.stop().await;
        }));
    }
}
