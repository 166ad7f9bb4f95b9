//! What a server or client has carried, and refused: counters bumped where
//! the work happens, read into a [`Metrics`] snapshot (`ServerCore::metrics`,
//! `Client::metrics`) and rendered in the Prometheus text format
//! ([`Metrics::to_prometheus`]).
//!
//! The labels stay bounded at any moment: reasons are the fixed sets
//! [`Refusal`] and [`Failure`]; a tunnel's series exist while the tunnel is
//! open, for at most a set number of tunnels (the rest are counted in
//! `unlisted_tunnels`); the totals count every tunnel, ended and unlisted
//! ones included. Tunnel and channel ids only grow, so each new tunnel is a
//! new series. A server's static tunnels have series of their own, bounded
//! by its configuration's `peers`.

mod counters;
mod reason;
mod snapshot;
mod text;
mod totals;
mod tunnel;

pub use counters::Counts;
pub use reason::{Failure, Refusal};
pub use snapshot::{Metrics, StaticTunnelMetrics, TunnelMetrics};
pub use text::CONTENT_TYPE;

pub(crate) use snapshot::OpenTunnel;
pub(crate) use totals::Totals;
pub(crate) use tunnel::{EndKind, TunnelLabel, TunnelStats};

/// Tunnels listed with series of their own, unless set otherwise.
pub const DEFAULT_TUNNEL_LIMIT: usize = 1000;

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn socket_text(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
