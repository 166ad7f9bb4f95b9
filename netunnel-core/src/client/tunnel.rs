//! A tunnel as its client sees it.

use std::sync::{Arc, Weak};

use crate::error::{Error, Result};
use crate::server::TunnelEnd;
use crate::sync::StopSignal;

use super::ClientInner;

/// Where a tunnel starts and ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelInfo {
    /// Tunnel id within the channel.
    pub id: u64,
    /// `true` for server-to-client tunnels.
    pub reverse: bool,
    /// Where connections enter (`address`, `port`): here for forward tunnels,
    /// on the server for reverse ones.
    pub entrance: (String, u16),
    /// Where connections go.
    pub exit: (String, u16),
}

pub(crate) struct TunnelState {
    pub(crate) info: TunnelInfo,
    pub(crate) end: TunnelEnd,
    pub(crate) stopped: StopSignal,
}

impl TunnelState {
    pub(crate) fn new(info: TunnelInfo, end: TunnelEnd) -> Arc<TunnelState> {
        Arc::new(TunnelState {
            info,
            end,
            stopped: StopSignal::new(),
        })
    }
}

/// Handle to an open tunnel.
#[derive(Clone)]
pub struct Tunnel {
    state: Arc<TunnelState>,
    client: Weak<ClientInner>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.state.info.fmt(f)
    }
}

impl Tunnel {
    pub(crate) fn new(state: Arc<TunnelState>, client: Weak<ClientInner>) -> Tunnel {
        Tunnel { state, client }
    }

    /// Where the tunnel starts and ends.
    pub fn info(&self) -> &TunnelInfo {
        &self.state.info
    }

    /// Whether the tunnel has stopped (deleted here, by the server, or the
    /// channel ended).
    pub fn is_stopped(&self) -> bool {
        self.state.stopped.is_fired()
    }

    /// Completes when the tunnel stops.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + Unpin + 'static {
        self.state.stopped.wait()
    }

    /// Stops the tunnel here and on the server; open connections close at once.
    pub async fn close(&self) -> Result<()> {
        let client = self.client.upgrade().ok_or(Error::ChannelClosed)?;
        client.delete(self.state.info.id, true).await
    }

    /// Stops the tunnel without cutting its open connections: it takes no new
    /// connection, and this returns once the open ones have ended and the
    /// server deleted its side (see [`crate::client::Client::drain_tunnel`]).
    pub async fn drain(&self) -> Result<()> {
        let client = self.client.upgrade().ok_or(Error::ChannelClosed)?;
        client.delete(self.state.info.id, false).await
    }
}
