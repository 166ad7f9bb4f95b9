//! A tunnel as its client sees it.

use std::sync::{Arc, Weak};

use crate::error::{Error, Result};
use crate::sync::StopSignal;
use crate::tunnel::TunnelEnd;

use super::session::ClientInner;

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

impl TunnelInfo {
    /// The entrance as `host:port`, an IPv6 host in brackets (`[::1]:22`).
    pub fn entrance_text(&self) -> String {
        crate::metrics::socket_text(&self.entrance.0, self.entrance.1)
    }

    /// The exit as `host:port`, an IPv6 host in brackets.
    pub fn exit_text(&self) -> String {
        crate::metrics::socket_text(&self.exit.0, self.exit.1)
    }
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

    /// Whether the tunnel still works: not stopped, and its client still
    /// connected (NETunnel 1.0.x's `health_check`).
    pub fn health_check(&self) -> bool {
        !self.is_stopped()
            && self
                .client
                .upgrade()
                .is_some_and(|client| client.is_connected())
    }

    /// Completes once the tunnel can carry a connection without waiting: a
    /// forward tunnel's first spare websocket is open (opening one waits for
    /// this already), a reverse tunnel at once. Also completes when it stops.
    pub async fn wait_ready(&self) {
        if let TunnelEnd::Entrance(entrance) = &self.state.end {
            entrance.wait_ready().await;
        }
    }

    /// Stops the tunnel here and on the server; open connections close at once.
    /// Already stopped: does nothing.
    pub async fn close(&self) -> Result<()> {
        self.delete(true).await
    }

    /// Stops the tunnel without cutting its open connections: it takes no new
    /// connection, and this returns once the open ones have ended and the
    /// server deleted its side (see [`crate::client::Client::drain_tunnel`]).
    /// Already stopped: does nothing.
    pub async fn drain(&self) -> Result<()> {
        self.delete(false).await
    }

    /// Stops the tunnel here only, leaving the server's side to the server
    /// (NETunnel 1.0.x's `stop(stop_remote_tunnel=False)`); its open
    /// connections close at once.
    pub async fn stop_local(&self) {
        self.end_local(true).await;
    }

    /// Like [`Tunnel::stop_local`], without cutting open connections: it takes
    /// no new connection here and returns once the open ones have ended.
    pub async fn drain_local(&self) {
        self.end_local(false).await;
    }

    async fn end_local(&self, force: bool) {
        if let Some(client) = self.client.upgrade() {
            let instance = client.instance;
            instance
                .scope(client.end_local(self.state.info.id, force))
                .await;
        }
    }

    async fn delete(&self, force: bool) -> Result<()> {
        if self.is_stopped() {
            return Ok(());
        }
        let Some(client) = self.client.upgrade() else {
            return Ok(());
        };
        let deleting = client.delete(self.state.info.id, force);
        match client.instance.scope(deleting).await {
            // Stopped meanwhile, by another call, the server or the channel.
            Err(Error::NotFound(_)) if self.is_stopped() => Ok(()),
            Err(Error::NotFound(_)) => {
                self.stopped().await;
                Ok(())
            }
            other => other,
        }
    }
}
