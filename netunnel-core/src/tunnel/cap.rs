//! A cap on the connections one tunnel end carries at once: past it, a new
//! connection is closed at once. [`Refusing`] logs the runs of refusals, for
//! these caps and the server's.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{AsyncRead, AsyncWrite};

use crate::instance::{record, TARGET_TUNNEL};
use crate::metrics::{Refusal, TunnelStats};
use crate::runtime::BoxConn;

/// Whether work of one kind is being refused at its cap. A run of refusals
/// is logged when it starts, and its end once use is back under 90 % of the
/// cap (with the number refused), so that a cap held full logs twice, not
/// once per refusal.
#[derive(Debug)]
pub(crate) struct Refusing {
    target: &'static str,
    /// What is refused (`new channels`, `connections on tunnel exit ...`).
    what: String,
    refusing: AtomicBool,
    refused: AtomicUsize,
}

impl Refusing {
    /// A log of refusals of `what`, to `target`.
    pub(crate) fn new(target: &'static str, what: String) -> Refusing {
        Refusing {
            target,
            what,
            refusing: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
        }
    }

    /// Work was refused with `count` of `limit` in use.
    pub(crate) fn refused(&self, count: usize, limit: usize) {
        self.refused.fetch_add(1, Ordering::AcqRel);
        if !self.refusing.swap(true, Ordering::AcqRel) {
            record!(
                warn,
                self.target,
                "refusing {}: {count} in use, at the cap of {limit} (see the README's limits)",
                self.what
            );
        }
    }

    /// Work was taken, `count` of `limit` now in use.
    pub(crate) fn admitted(&self, count: usize, limit: usize) {
        if self.refusing.load(Ordering::Acquire)
            && count.saturating_mul(10) <= limit.saturating_mul(9)
            && self.refusing.swap(false, Ordering::AcqRel)
        {
            let refused = self.refused.swap(0, Ordering::AcqRel);
            record!(
                info,
                self.target,
                "taking {} again ({count} of {limit} in use); {refused} were refused",
                self.what
            );
        }
    }
}

/// How many connections one tunnel end may carry at once, and the counters
/// of what it carried: a connection is counted while it holds its slot.
pub(crate) struct Cap {
    limit: usize,
    open: AtomicUsize,
    refusing: Refusing,
    stats: Arc<TunnelStats>,
}

impl Cap {
    /// A cap of `limit` connections (`usize::MAX`: none) for the end `name`
    /// (`tunnel entrance 127.0.0.1:20001`), counting into `stats`.
    pub(crate) fn new(limit: usize, name: String, stats: Arc<TunnelStats>) -> Arc<Cap> {
        Arc::new(Cap {
            limit,
            open: AtomicUsize::new(0),
            refusing: Refusing::new(TARGET_TUNNEL, format!("connections on {name}")),
            stats,
        })
    }

    /// The counters of the tunnel end.
    pub(crate) fn stats(&self) -> &Arc<TunnelStats> {
        &self.stats
    }

    /// A slot for one more connection, held until the slot is dropped;
    /// `None` at the cap.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Slot> {
        match self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.limit).then_some(open + 1)
            }) {
            Ok(before) => {
                self.refusing.admitted(before + 1, self.limit);
                self.stats.opened();
                Some(Slot(Arc::clone(self)))
            }
            Err(open) => {
                self.refusing.refused(open, self.limit);
                self.stats.refused(Refusal::ConnectionLimit);
                None
            }
        }
    }
}

/// One connection's place under a [`Cap`].
pub(crate) struct Slot(Arc<Cap>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.stats.closed();
    }
}

/// A connection that holds its slot for as long as it lives, and counts the
/// bytes read from it and written to it.
pub(crate) struct Counted {
    conn: BoxConn,
    slot: Slot,
}

impl Counted {
    /// `conn`, boxed again, holding `slot`.
    pub(crate) fn boxed(conn: BoxConn, slot: Slot) -> BoxConn {
        Box::new(Counted { conn, slot })
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.conn).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.slot.0.stats.read(n);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.conn).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.slot.0.stats.written(n);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.conn).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.conn).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_back_when_dropped() {
        let stats = TunnelStats::detached(crate::metrics::EndKind::Exit);
        let cap = Cap::new(2, "test".into(), Arc::clone(&stats));
        let first = cap.admit().expect("first");
        let second = cap.admit().expect("second");
        assert!(cap.admit().is_none(), "over the cap");
        assert!(cap.admit().is_none(), "still over");
        drop(first);
        let third = cap.admit().expect("a slot came back");
        assert!(cap.admit().is_none());
        assert_eq!(stats.counts().connections_open, 2);
        drop((second, third));
        assert_eq!(cap.open.load(Ordering::Acquire), 0);
        let counts = stats.counts();
        assert_eq!((counts.connections_open, counts.connections_total), (0, 3));
        assert_eq!(counts.refused(Refusal::ConnectionLimit), 3);
    }
}
