//! How this server reaches a peer, and the timing of static tunnels.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::auth::ClientAuth;
use crate::client::{Client, ClientSettings};
use crate::config::{ConfigStore, ProxySettings};
use crate::error::{Error, Result};
use crate::runtime::RuntimeRef;
use crate::transport::Transport;

/// Everything needed to open a client connection to a peer.
#[derive(Clone)]
pub struct PeerLink {
    /// The peer's name (for messages).
    pub name: String,
    /// The peer's server URL.
    pub url: String,
    /// The global HTTP proxy, if any.
    pub proxy: Option<ProxySettings>,
    /// Skip certificate checks (`allow_unverified_ssl_peers`).
    pub allow_unverified_ssl: bool,
    /// The client plugin made from the peer's `auth_data`.
    pub auth: Arc<dyn ClientAuth>,
}

impl std::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLink")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

/// Makes transports to peers; the frontend implements it over HTTP(S).
pub trait Connector: Send + Sync {
    /// A transport to `link`'s server.
    fn transport(&self, link: &PeerLink) -> Result<Arc<dyn Transport>>;
}

/// Opens a client connection (channel) to the peer.
pub async fn connect(
    rt: &RuntimeRef,
    connector: &dyn Connector,
    link: &PeerLink,
) -> Result<Client> {
    let transport = connector.transport(link)?;
    Client::connected(Arc::clone(rt), transport, ClientSettings::default()).await
}

/// [`connect`], counting what the client's tunnels carry into `totals`.
pub(crate) async fn connect_counting(
    rt: &RuntimeRef,
    connector: &dyn Connector,
    link: &PeerLink,
    totals: Arc<crate::metrics::Totals>,
) -> Result<Client> {
    let transport = connector.transport(link)?;
    let client =
        Client::counting_into(Arc::clone(rt), transport, ClientSettings::default(), totals);
    client.connect().await?;
    Ok(client)
}

/// Checks a peer the way NETunnel does: a full client connection, then
/// `GET /version`.
pub async fn verify(rt: &RuntimeRef, connector: &dyn Connector, link: &PeerLink) -> Result<()> {
    let failed = |err: Error| {
        Error::BadRequest(format!(
            "Failed to connect with peer `{}`: {err}",
            link.name
        ))
    };
    let client = connect(rt, connector, link).await.map_err(failed)?;
    let version = client.remote_version().await;
    client.close().await;
    version.map(|_| ()).map_err(failed)
}

/// Retry, health-check and port-range settings of static tunnels, from the
/// optional config keys `static_tunnel_retry_interval`,
/// `static_tunnel_health_check_interval` (seconds) and
/// `static_tunnel_local_ports` (`"20000-20999"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Pause between attempts to reach a peer.
    pub retry_interval: Duration,
    /// How often an online static tunnel checks its peer.
    pub health_check_interval: Duration,
    /// Ports the server picks static tunnels' local ports from.
    pub local_ports: RangeInclusive<u16>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            retry_interval: Duration::from_secs(10),
            health_check_interval: Duration::from_secs(30),
            local_ports: 20000..=20999,
        }
    }
}

impl Timing {
    /// Reads the optional keys (validated at load) from `store`.
    pub fn from_config(store: &ConfigStore) -> Timing {
        let mut timing = Timing::default();
        let seconds = |key: &str| {
            store
                .get(key)
                .as_ref()
                .and_then(Value::as_f64)
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
        };
        if let Some(retry) = seconds("static_tunnel_retry_interval") {
            timing.retry_interval = retry;
        }
        if let Some(check) = seconds("static_tunnel_health_check_interval") {
            timing.health_check_interval = check;
        }
        if let Some(Value::String(range)) = store.get("static_tunnel_local_ports") {
            if let Some(range) = crate::config::parse_port_range(&range) {
                timing.local_ports = range;
            }
        }
        timing
    }
}
