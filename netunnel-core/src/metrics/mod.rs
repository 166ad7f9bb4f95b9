//! What a server or client has carried, and refused: counters bumped where
//! the work happens, read into a [`Metrics`] snapshot
//! ([`crate::server::ServerCore::metrics`], [`crate::client::Client::metrics`])
//! and rendered in the Prometheus text format ([`Metrics::to_prometheus`]).
//!
//! The labels stay bounded: reasons are the fixed sets [`Refusal`] and
//! [`Failure`]; a tunnel's series exist while the tunnel does, for at most a
//! set number of tunnels (the rest are counted in `unlisted_tunnels`); the
//! totals count every tunnel, ended or not listed ones included.

mod counters;
mod reason;
mod text;
mod tunnel;

pub use counters::Counts;
pub use reason::{Failure, Refusal};
pub use text::CONTENT_TYPE;

pub(crate) use counters::Counters;
pub(crate) use tunnel::{EndKind, TunnelLabel, TunnelStats};

use std::sync::atomic::{AtomicU64, Ordering};

/// Tunnels listed with series of their own, unless set otherwise.
pub const DEFAULT_TUNNEL_LIMIT: usize = 1000;

/// The counters of a whole server or client.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Every tunnel end's, summed as they count.
    pub(crate) traffic: Counters,
    channels_opened: AtomicU64,
    tunnels_opened: AtomicU64,
}

/// A reading of [`Totals`] but its traffic.
pub(crate) struct Opened {
    pub(crate) channels_opened: u64,
    pub(crate) tunnels_opened: u64,
}

impl Totals {
    /// A control channel was connected.
    pub(crate) fn channel_opened(&self) {
        self.channels_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A tunnel was opened (its end made and registered).
    pub(crate) fn tunnel_opened(&self) {
        self.tunnels_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Work that belongs to no tunnel (a channel, a tunnel request) was refused.
    pub(crate) fn refused(&self, reason: Refusal) {
        self.traffic.refused(reason);
    }

    pub(crate) fn read(&self) -> Opened {
        Opened {
            channels_opened: self.channels_opened.load(Ordering::Relaxed),
            tunnels_opened: self.tunnels_opened.load(Ordering::Relaxed),
        }
    }
}

/// One tunnel, as [`Metrics`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelMetrics {
    /// The channel the tunnel belongs to.
    pub channel: u64,
    /// The tunnel's id within its channel.
    pub tunnel: u64,
    /// `true` for a reverse (server-to-client) tunnel.
    pub reverse: bool,
    /// Where its connections enter, `host:port` (`[::1]:port` for IPv6).
    pub entrance: String,
    /// Where they go, `host:port`.
    pub exit: String,
    /// What this side of the tunnel counted.
    pub counts: Counts,
}

/// A snapshot of what a server or client has carried and refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// Control channels connected now (a client: 1 while connected).
    pub channels: u64,
    /// Control channels connected since the start.
    pub channels_opened: u64,
    /// Forward tunnels open now.
    pub forward_tunnels: u64,
    /// Reverse tunnels open now.
    pub reverse_tunnels: u64,
    /// Tunnels opened since the start.
    pub tunnels_opened: u64,
    /// Every tunnel's counts summed, ended ones included, with the refusals
    /// that belong to no tunnel (channels, tunnel requests, authentication).
    pub totals: Counts,
    /// The open tunnels by channel and id, at most the tunnel limit of them.
    pub tunnels: Vec<TunnelMetrics>,
    /// Open tunnels past the tunnel limit, not in `tunnels`.
    pub unlisted_tunnels: u64,
}

impl Metrics {
    /// A snapshot of `totals` with `channels` connected and these open
    /// `tunnels`, of which the first `limit` (by channel, then id) are listed.
    pub(crate) fn new(
        totals: &Totals,
        channels: u64,
        mut tunnels: Vec<TunnelMetrics>,
        limit: usize,
    ) -> Metrics {
        let reverse = tunnels.iter().filter(|t| t.reverse).count() as u64;
        let forward = tunnels.len() as u64 - reverse;
        tunnels.sort_by_key(|t| (t.channel, t.tunnel));
        let unlisted = tunnels.len().saturating_sub(limit) as u64;
        tunnels.truncate(limit);
        let opened = totals.read();
        Metrics {
            channels,
            channels_opened: opened.channels_opened,
            forward_tunnels: forward,
            reverse_tunnels: reverse,
            tunnels_opened: opened.tunnels_opened,
            totals: totals.traffic.read(),
            tunnels,
            unlisted_tunnels: unlisted,
        }
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn socket_text(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
