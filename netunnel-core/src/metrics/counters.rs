//! The counters behind the metrics (atomics, bumped where the work happens)
//! and [`Counts`], what a reading of them gives.

use std::sync::atomic::{AtomicU64, Ordering};

use super::reason::{Failure, Refusal};

/// Connections, bytes, refusals and failures, of one tunnel end or of all.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    open: AtomicU64,
    total: AtomicU64,
    to_exit: AtomicU64,
    to_entrance: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
    failed: [AtomicU64; Failure::ALL.len()],
}

impl Counters {
    /// A connection starts being carried.
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection is no longer carried.
    pub(crate) fn closed(&self) {
        // Every close pairs with an open (a slot's drop): below zero would
        // be a bug, which a debug build reports; a release build stays at 0.
        let before = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        debug_assert!(before.is_ok(), "a connection closed twice");
    }

    /// `bytes` went one way: to the exit, or back to the entrance.
    pub(crate) fn carried(&self, to_exit: bool, bytes: usize) {
        let counter = if to_exit {
            &self.to_exit
        } else {
            &self.to_entrance
        };
        counter.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Work was refused for `reason`.
    pub(crate) fn refused(&self, reason: Refusal) {
        self.refused[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Work failed for `reason`.
    pub(crate) fn failed(&self, reason: Failure) {
        self.failed[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// What the counters say now.
    pub(crate) fn read(&self) -> Counts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            connections_open: load(&self.open),
            connections_total: load(&self.total),
            bytes_to_exit: load(&self.to_exit),
            bytes_to_entrance: load(&self.to_entrance),
            refused: std::array::from_fn(|i| load(&self.refused[i])),
            failed: std::array::from_fn(|i| load(&self.failed[i])),
        }
    }
}

/// A reading of the counters of one tunnel, or of every tunnel a server or
/// client has carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Connections this side has taken and not yet closed: at an entrance
    /// from when it accepts one, at an exit from when it starts connecting
    /// to the service.
    pub connections_open: u64,
    /// Connections this side has taken since the start: the ones it refused
    /// at its own cap are not counted, the ones the other side refused or
    /// whose service could not be reached are.
    pub connections_total: u64,
    /// Bytes carried from the entrance to the exit: what the connecting
    /// applications sent to the service.
    pub bytes_to_exit: u64,
    /// Bytes carried from the exit to the entrance: the service's answers.
    pub bytes_to_entrance: u64,
    refused: [u64; Refusal::ALL.len()],
    failed: [u64; Failure::ALL.len()],
}

impl Counts {
    /// How many were refused for `reason`.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason.index()]
    }

    /// How many failed for `reason`.
    pub fn failed(&self, reason: Failure) -> u64 {
        self.failed[reason.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_gives_what_was_counted() {
        let counters = Counters::default();
        counters.opened();
        counters.opened();
        counters.closed();
        counters.carried(true, 5);
        counters.carried(false, 7);
        counters.carried(false, 1);
        counters.refused(Refusal::TunnelLimit);
        counters.failed(Failure::ConnectFailed);
        counters.failed(Failure::ConnectFailed);
        let counts = counters.read();
        assert_eq!(counts.connections_open, 1);
        assert_eq!(counts.connections_total, 2);
        assert_eq!((counts.bytes_to_exit, counts.bytes_to_entrance), (5, 8));
        assert_eq!(counts.refused(Refusal::TunnelLimit), 1);
        assert_eq!(counts.refused(Refusal::Unauthorized), 0);
        assert_eq!(counts.failed(Failure::ConnectFailed), 2);
        counters.closed();
        assert_eq!(counters.read().connections_open, 0);
    }
}
