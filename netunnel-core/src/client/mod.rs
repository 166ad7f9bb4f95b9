//! The client: one control channel to a server at a time, and the tunnels
//! opened over it. Reaches the server through a [`Transport`].

mod peers;
mod session;
mod tunnel;

pub use tunnel::{Tunnel, TunnelInfo};

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::Either;

use crate::error::{Error, Result};
use crate::instance::{Instance, InstanceKind};
use crate::runtime::RuntimeRef;
use crate::sync::StopSignal;
use crate::transport::Transport;
use crate::ws::Heartbeat;
use session::ClientInner;

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Keep-alive of every websocket the client opens (`None`: no pings).
    pub heartbeat: Option<Heartbeat>,
    /// Bound on waiting for the server when deleting a tunnel.
    pub delete_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            heartbeat: Some(Heartbeat::default()),
            delete_timeout: Duration::from_secs(5),
        }
    }
}

/// A NETunnel client, as NETunnel 1.0.x's `NETunnelClient`: created
/// unconnected, connected with [`Client::connect`], closed with
/// [`Client::close`] (twice is fine) and connectable again. Cheap to clone;
/// every clone is the same client. Usable from any thread.
///
/// ```
/// # async_std::task::block_on(async {
/// use std::sync::Arc;
/// use netunnel_core::client::{Client, ClientSettings};
/// use netunnel_core::{AsyncStdRuntime, HttpTransport, Server, ServerOptions};
///
/// let server = Server::start(ServerOptions::new().port(0)).await?;
/// let rt = AsyncStdRuntime::shared();
/// let transport = Arc::new(HttpTransport::new(rt.clone(), &server.url())?);
/// let client = Client::new(rt, transport, ClientSettings::default());
/// assert!(!client.is_connected());
/// client.connect().await?;
/// assert_eq!(client.remote_version().await?, netunnel_core::VERSION);
/// client.close().await;
/// client.close().await; // already closed: nothing to do
/// client.connect().await?; // a new channel
/// assert!(client.is_connected());
/// client.close().await;
/// server.stop().await;
/// # Ok::<(), netunnel_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    rt: RuntimeRef,
    settings: ClientSettings,
    /// How the next [`Client::connect`] reaches the server.
    transport: Mutex<Arc<dyn Transport>>,
    /// The current connection, if any.
    session: Mutex<Option<Arc<ClientInner>>>,
    /// Serialises connecting and closing.
    changing: futures::lock::Mutex<()>,
    /// Fired by [`Client::close`] to cut short a connect under way.
    connecting: Mutex<Option<Arc<StopSignal>>>,
    /// What this client's log records carry as their `instance` key.
    instance: Instance,
    /// What every session's tunnels have carried.
    totals: Arc<crate::metrics::Totals>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.transport().describe())
            .field("channel", &self.channel_id())
            .finish()
    }
}

impl Client {
    /// A client of the server `transport` reaches; not connected yet.
    pub fn new(rt: RuntimeRef, transport: Arc<dyn Transport>, settings: ClientSettings) -> Client {
        Self::counting_into(rt, transport, settings, Arc::default())
    }

    /// [`Client::new`], counting what its tunnels carry into `totals`
    /// (kept by its owner across clients: a static tunnel's runner).
    pub(crate) fn counting_into(
        rt: RuntimeRef,
        transport: Arc<dyn Transport>,
        settings: ClientSettings,
        totals: Arc<crate::metrics::Totals>,
    ) -> Client {
        Client {
            shared: Arc::new(Shared {
                rt,
                settings,
                transport: Mutex::new(transport),
                session: Mutex::new(None),
                changing: futures::lock::Mutex::new(()),
                connecting: Mutex::new(None),
                instance: Instance::new(InstanceKind::Client),
                totals,
            }),
        }
    }

    /// [`Client::new`], then [`Client::connect`].
    pub async fn connected(
        rt: RuntimeRef,
        transport: Arc<dyn Transport>,
        settings: ClientSettings,
    ) -> Result<Client> {
        let client = Client::new(rt, transport, settings);
        client.connect().await?;
        Ok(client)
    }

    /// What this client's log records carry as their `instance` key.
    pub fn instance(&self) -> Instance {
        self.shared.instance
    }

    /// Runs `work` as this client's: its records and tasks carry its instance.
    async fn scoped<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.shared.instance.scope(work).await
    }

    fn session(&self) -> MutexGuard<'_, Option<Arc<ClientInner>>> {
        self.shared
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(
            &self
                .shared
                .transport
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The current connection, or [`Error::ChannelClosed`].
    fn inner(&self) -> Result<Arc<ClientInner>> {
        self.session().clone().ok_or(Error::ChannelClosed)
    }

    /// Creates a channel on the server and connects its control websocket.
    /// Already connected: does nothing. After [`Client::close`], or after the
    /// server dropped the channel, connects anew (tunnels of the old channel
    /// are gone). A [`Client::close`] meanwhile cuts it short (an error of
    /// kind `Connection`).
    pub async fn connect(&self) -> Result<()> {
        self.scoped(async move {
            let _changing = self.shared.changing.lock().await;
            let old = self.session().clone();
            if let Some(old) = old {
                if old.is_connected() {
                    return Ok(());
                }
                old.close().await;
            }
            let cancel = Arc::new(StopSignal::new());
            *self.connecting() = Some(Arc::clone(&cancel));
            let transport = self.transport();
            let opening = std::pin::pin!(ClientInner::open(
                self.shared.instance,
                Arc::clone(&self.shared.rt),
                Arc::clone(&transport),
                self.shared.settings.clone(),
                Arc::clone(&self.shared.totals),
            ));
            let opened = futures::future::select(opening, cancel.wait()).await;
            *self.connecting() = None;
            let inner = match opened {
                Either::Left((opened, _)) => opened?,
                Either::Right(_) => {
                    return Err(Error::Connection(format!(
                        "the client was closed while connecting to {}",
                        transport.describe()
                    )))
                }
            };
            *self.session() = Some(inner);
            Ok(())
        })
        .await
    }

    fn connecting(&self) -> MutexGuard<'_, Option<Arc<StopSignal>>> {
        self.shared
            .connecting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes how the next [`Client::connect`] reaches the server (another
    /// proxy, say). Refused while connected: close first.
    pub fn set_transport(&self, transport: Arc<dyn Transport>) -> Result<()> {
        // Not while a connect or close is under way either.
        let busy = self.shared.changing.try_lock();
        if busy.is_none() || self.is_connected() {
            return Err(Error::Config(
                "the client is connected (or connecting): close it before changing how it \
                 reaches the server"
                    .into(),
            ));
        }
        *self
            .shared
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = transport;
        Ok(())
    }

    /// The server's reported version, while connected.
    pub fn server_version(&self) -> Option<String> {
        self.session()
            .as_ref()
            .map(|inner| inner.server_version().to_string())
    }

    /// The id of this client's channel on the server, while connected.
    pub fn channel_id(&self) -> Option<u64> {
        self.session()
            .as_ref()
            .filter(|inner| inner.is_connected())
            .map(|inner| inner.channel_id())
    }

    /// Whether the control channel is up.
    pub fn is_connected(&self) -> bool {
        self.session()
            .as_ref()
            .is_some_and(|inner| inner.is_connected())
    }

    /// Completes when the control channel ends (server gone, channel closed,
    /// [`Client::close`]); at once when not connected.
    pub fn disconnected(&self) -> impl std::future::Future<Output = ()> + Send + Unpin + 'static {
        match self.session().as_ref() {
            Some(inner) => Either::Left(inner.disconnected()),
            None => Either::Right(futures::future::ready(())),
        }
    }

    /// `GET /version` of the server.
    pub async fn remote_version(&self) -> Result<String> {
        self.inner()?.remote_version().await
    }

    /// Opens a client-to-server tunnel: listens on `local_address:local_port`
    /// (port `None` or 0: any free port) and carries each connection to
    /// `remote_address:remote_port` as seen from the server. Returns once the
    /// first spare websocket is ready. If this future is dropped before it
    /// returns, the tunnel is deleted here and on the server.
    pub async fn open_tunnel_to_server(
        &self,
        local_address: &str,
        local_port: Option<u16>,
        remote_address: &str,
        remote_port: u16,
    ) -> Result<Tunnel> {
        self.scoped(async move {
            self.inner()?
                .open_tunnel_to_server(local_address, local_port, remote_address, remote_port)
                .await
        })
        .await
    }

    /// Opens a server-to-client tunnel: the server listens on
    /// `remote_address:remote_port` (`None`: a free port it picks) and each
    /// connection is carried to `local_address:local_port` here. If this
    /// future is dropped before it returns, the tunnel is deleted here and on
    /// the server.
    pub async fn open_tunnel_to_client(
        &self,
        local_address: &str,
        local_port: u16,
        remote_address: &str,
        remote_port: Option<u16>,
    ) -> Result<Tunnel> {
        self.scoped(async move {
            self.inner()?
                .open_tunnel_to_client(local_address, local_port, remote_address, remote_port)
                .await
        })
        .await
    }

    /// Stops tunnel `tid` here and deletes it on the server; its open
    /// connections close at once.
    pub async fn delete_tunnel(&self, tid: u64) -> Result<()> {
        self.scoped(async move { self.inner()?.delete(tid, true).await })
            .await
    }

    /// Deletes tunnel `tid` without cutting its open connections: the tunnel
    /// takes no new connection, and this returns once the open ones have ended
    /// (however long they last) and the server deleted its side.
    pub async fn drain_tunnel(&self, tid: u64) -> Result<()> {
        self.scoped(async move { self.inner()?.delete(tid, false).await })
            .await
    }

    /// What this client carries now and has carried, over every connection
    /// it has made: its open tunnels (the first
    /// [`crate::metrics::DEFAULT_TUNNEL_LIMIT`] by id) and the totals. See
    /// [`crate::metrics`]; [`crate::metrics::Metrics::to_prometheus`] renders it.
    pub fn metrics(&self) -> crate::metrics::Metrics {
        let session = self.session().clone();
        let (channels, tunnels) = match session {
            Some(inner) => (u64::from(inner.is_connected()), inner.tunnel_metrics()),
            None => (0, Vec::new()),
        };
        crate::metrics::Metrics::new(
            &self.shared.totals,
            channels,
            tunnels,
            crate::metrics::DEFAULT_TUNNEL_LIMIT,
        )
    }

    /// The open tunnels (none when not connected).
    pub fn tunnels(&self) -> Vec<TunnelInfo> {
        self.session()
            .as_ref()
            .map(|inner| inner.tunnel_infos())
            .unwrap_or_default()
    }

    /// Closes every tunnel (deleting each on the server, bounded in time), then
    /// the control channel. Not connected: does nothing. A connect under way
    /// is cut short first.
    pub async fn close(&self) {
        self.scoped(async move {
            let cancel = self.connecting().take();
            if let Some(cancel) = cancel {
                cancel.fire();
            }
            let _changing = self.shared.changing.lock().await;
            let old = self.session().take();
            if let Some(inner) = old {
                inner.close().await;
            }
        })
        .await
    }
}
