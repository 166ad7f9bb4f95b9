//! The counters of a whole server or client.

use std::sync::atomic::{AtomicU64, Ordering};

use super::counters::Counters;
use super::reason::Refusal;

/// Every tunnel end's traffic summed as it counts, the channels and tunnels
/// opened, and the refusals that belong to no tunnel.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Every tunnel end's, summed as they count.
    pub(crate) traffic: Counters,
    channels_opened: AtomicU64,
    tunnels_opened: AtomicU64,
}

/// A reading of [`Totals`] but its traffic.
pub(crate) struct Opened {
    /// Control channels connected since the start.
    pub(crate) channels_opened: u64,
    /// Tunnels opened since the start.
    pub(crate) tunnels_opened: u64,
}

impl Totals {
    /// A control channel was connected.
    pub(crate) fn channel_opened(&self) {
        self.channels_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A tunnel was opened: made, registered, and handed to its user.
    pub(crate) fn tunnel_opened(&self) {
        self.tunnels_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Work that belongs to no tunnel (a channel, a tunnel request) was refused.
    pub(crate) fn refused(&self, reason: Refusal) {
        self.traffic.refused(reason);
    }

    /// The channels and tunnels opened so far.
    pub(crate) fn read(&self) -> Opened {
        Opened {
            channels_opened: self.channels_opened.load(Ordering::Relaxed),
            tunnels_opened: self.tunnels_opened.load(Ordering::Relaxed),
        }
    }
}
