//! [`Metrics`]: a snapshot of a server's or client's counters, with its
//! open tunnels listed up to a limit.

use std::sync::Arc;

use super::counters::Counts;
use super::totals::Totals;
use super::tunnel::TunnelStats;

/// One tunnel, as [`Metrics`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TunnelMetrics {
    /// The channel the tunnel belongs to.
    pub channel: u64,
    /// The tunnel's id within its channel.
    pub tunnel: u64,
    /// `true` for a reverse (server-to-client) tunnel.
    pub reverse: bool,
    /// Where its connections enter, `host:port` (`[::1]:port` for IPv6);
    /// empty where this side does not know (a server's forward tunnel).
    pub entrance: String,
    /// Where they go, `host:port`; empty where this side does not know (a
    /// server's reverse tunnel).
    pub exit: String,
    /// What this side of the tunnel counted.
    pub counts: Counts,
}

/// One static tunnel of a server to a peer, as [`Metrics`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticTunnelMetrics {
    /// The peer's name.
    pub peer: String,
    /// The static tunnel's id within the peer.
    pub id: u64,
    /// Where it listens on this server's host, `host:port`.
    pub entrance: String,
    /// Where it goes, as seen from the peer, `host:port`.
    pub exit: String,
    /// Whether it is connected to its peer now.
    pub online: bool,
    /// What it has carried, over every connection to the peer.
    pub counts: Counts,
}

/// A snapshot of what a server or client has carried and refused. The
/// numbers are read one by one, not all at one instant: a snapshot taken
/// while connections come and go may be a few counts out between them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A server's static tunnels to its peers (counted here only, not in
    /// `totals` or the tunnel counts), by peer name and id; a client has none.
    pub static_tunnels: Vec<StaticTunnelMetrics>,
}

/// One open tunnel as its holder knows it: channel, id, counters.
pub(crate) type OpenTunnel = (u64, u64, Arc<TunnelStats>);

impl Metrics {
    /// A snapshot of `totals` with `channels` connected and these open
    /// `tunnels`, of which the first `limit` (by channel, then id) are
    /// listed. Only the listed ones are read and their labels copied.
    pub(crate) fn new(
        totals: &Totals,
        channels: u64,
        mut tunnels: Vec<OpenTunnel>,
        limit: usize,
    ) -> Metrics {
        let reverse = tunnels.iter().filter(|(_, _, s)| s.is_reverse()).count() as u64;
        let forward = tunnels.len() as u64 - reverse;
        tunnels.sort_unstable_by_key(|(channel, tunnel, _)| (*channel, *tunnel));
        let unlisted = tunnels.len().saturating_sub(limit) as u64;
        tunnels.truncate(limit);
        let listed = tunnels
            .iter()
            .map(|(channel, tunnel, stats)| stats.metrics(*channel, *tunnel))
            .collect();
        let opened = totals.read();
        Metrics {
            channels,
            channels_opened: opened.channels_opened,
            forward_tunnels: forward,
            reverse_tunnels: reverse,
            tunnels_opened: opened.tunnels_opened,
            totals: totals.traffic.read(),
            tunnels: listed,
            unlisted_tunnels: unlisted,
            static_tunnels: Vec::new(),
        }
    }
}
