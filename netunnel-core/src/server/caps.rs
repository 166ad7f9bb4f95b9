//! Caps on what a server carries at once (their refusals are logged by
//! `tunnel::cap::Refusing`).

/// Caps on what a server carries at once. At a cap, new work is refused
/// (a `busy` error, HTTP 503, or a connection closed at once) and logged
/// once; what is open goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Channels (connected clients and peers), 1,000 by default (NETunnel
    /// 1.0.x's constant, which it never enforced).
    pub max_channels: usize,
    /// Tunnels of one channel, 1,000 by default.
    pub max_tunnels_per_channel: usize,
    /// Connections one tunnel carries at once on this server, 8,192 by
    /// default: each takes two file descriptors here (raise the process's
    /// limit with it).
    pub max_connections_per_tunnel: usize,
    /// Channels created and not (yet) connected, 100 by default: past it the
    /// oldest of them is dropped, so that they never count against
    /// `max_channels` nor lock connecting clients out.
    pub max_pending_channels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_channels: 1000,
            max_tunnels_per_channel: 1000,
            max_connections_per_tunnel: 8192,
            max_pending_channels: 100,
        }
    }
}

impl Limits {
    /// The defaults, with the optional config keys `max_channels`,
    /// `max_tunnels_per_channel`, `max_connections_per_tunnel` and
    /// `max_pending_channels` (validated at load) over them.
    pub fn from_config(store: &crate::config::ConfigStore) -> Limits {
        let count = |key: &str, default: usize| {
            store
                .get(key)
                .and_then(|value| value.as_u64())
                .and_then(|count| usize::try_from(count).ok())
                .filter(|count| *count > 0)
                .unwrap_or(default)
        };
        let defaults = Limits::default();
        Limits {
            max_channels: count("max_channels", defaults.max_channels),
            max_tunnels_per_channel: count(
                "max_tunnels_per_channel",
                defaults.max_tunnels_per_channel,
            ),
            max_connections_per_tunnel: count(
                "max_connections_per_tunnel",
                defaults.max_connections_per_tunnel,
            ),
            max_pending_channels: count("max_pending_channels", defaults.max_pending_channels),
        }
    }
}
