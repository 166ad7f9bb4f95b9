//! The counters of one tunnel end, which also count into the totals of the
//! server or client that holds it.

use std::sync::Arc;

use super::counters::{Counters, Counts};
use super::reason::{Failure, Refusal};
use super::snapshot::TunnelMetrics;
use super::totals::Totals;

/// Which end of a tunnel the counters belong to: it decides which way the
/// bytes read from its TCP connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndKind {
    /// Listens: its TCP reads go to the exit.
    Entrance,
    /// Connects out: its TCP reads go to the entrance.
    Exit,
}

/// What names a tunnel in its series.
#[derive(Debug, Clone, Default)]
pub(crate) struct TunnelLabel {
    /// A reverse (server-to-client) tunnel.
    pub(crate) reverse: bool,
    /// Where connections enter, `host:port`; empty where this side does
    /// not know (a server's forward tunnel).
    pub(crate) entrance: String,
    /// Where they go, `host:port`; empty where this side does not know (a
    /// server's reverse tunnel).
    pub(crate) exit: String,
}

impl TunnelLabel {
    /// The label of a tunnel whose entrance is `listening` here.
    pub(crate) fn listening(
        reverse: bool,
        listening: Option<std::net::SocketAddr>,
        exit: String,
    ) -> TunnelLabel {
        TunnelLabel {
            reverse,
            entrance: listening.map(|addr| addr.to_string()).unwrap_or_default(),
            exit,
        }
    }
}

/// The counters of one tunnel end.
#[derive(Debug)]
pub(crate) struct TunnelStats {
    own: Counters,
    totals: Arc<Totals>,
    kind: EndKind,
    label: TunnelLabel,
}

impl TunnelStats {
    /// Counters of a `kind` end of the tunnel `label` that also count into
    /// `totals`.
    pub(crate) fn new(totals: &Arc<Totals>, kind: EndKind, label: TunnelLabel) -> Arc<TunnelStats> {
        Arc::new(TunnelStats {
            own: Counters::default(),
            totals: Arc::clone(totals),
            kind,
            label,
        })
    }

    /// Counters that count into totals of their own (tests).
    #[cfg(test)]
    pub(crate) fn detached(kind: EndKind) -> Arc<TunnelStats> {
        Self::new(&Arc::new(Totals::default()), kind, TunnelLabel::default())
    }

    /// Whether this is an end of a reverse tunnel.
    pub(crate) fn is_reverse(&self) -> bool {
        self.label.reverse
    }

    /// This end's reading, as tunnel `tunnel` of channel `channel`.
    pub(crate) fn metrics(&self, channel: u64, tunnel: u64) -> TunnelMetrics {
        TunnelMetrics {
            channel,
            tunnel,
            reverse: self.label.reverse,
            entrance: self.label.entrance.clone(),
            exit: self.label.exit.clone(),
            counts: self.counts(),
        }
    }

    /// A connection starts being carried.
    pub(crate) fn opened(&self) {
        self.own.opened();
        self.totals.traffic.opened();
    }

    /// A connection is no longer carried.
    pub(crate) fn closed(&self) {
        self.own.closed();
        self.totals.traffic.closed();
    }

    /// `bytes` were read from a TCP connection of this end.
    pub(crate) fn read(&self, bytes: usize) {
        let to_exit = self.kind == EndKind::Entrance;
        self.own.carried(to_exit, bytes);
        self.totals.traffic.carried(to_exit, bytes);
    }

    /// `bytes` were written to a TCP connection of this end.
    pub(crate) fn written(&self, bytes: usize) {
        let to_exit = self.kind == EndKind::Exit;
        self.own.carried(to_exit, bytes);
        self.totals.traffic.carried(to_exit, bytes);
    }

    /// Work of this end was refused.
    pub(crate) fn refused(&self, reason: Refusal) {
        self.own.refused(reason);
        self.totals.traffic.refused(reason);
    }

    /// Work of this end failed.
    pub(crate) fn failed(&self, reason: Failure) {
        self.own.failed(reason);
        self.totals.traffic.failed(reason);
    }

    /// What this end's counters say now.
    pub(crate) fn counts(&self) -> Counts {
        self.own.read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_counts_its_reads_the_way_they_go() {
        let totals = Arc::new(Totals::default());
        let entrance = TunnelStats::new(&totals, EndKind::Entrance, TunnelLabel::default());
        let exit = TunnelStats::new(&totals, EndKind::Exit, TunnelLabel::default());
        entrance.read(10);
        entrance.written(3);
        exit.read(4);
        exit.written(20);
        let counts = entrance.counts();
        assert_eq!((counts.bytes_to_exit, counts.bytes_to_entrance), (10, 3));
        let counts = exit.counts();
        assert_eq!((counts.bytes_to_exit, counts.bytes_to_entrance), (20, 4));
        let all = totals.traffic.read();
        assert_eq!((all.bytes_to_exit, all.bytes_to_entrance), (30, 7));
    }
}
