//! A cap on the connections one tunnel end carries at once: past it, a new
//! connection is closed at once, and the first refusal of a run is logged
//! (then once more when the end is below its cap again).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{AsyncRead, AsyncWrite};

use crate::instance::{record, TARGET_TUNNEL};
use crate::runtime::BoxConn;

/// How many connections one tunnel end may carry at once.
pub(crate) struct Cap {
    limit: usize,
    open: AtomicUsize,
    refusing: AtomicBool,
    /// What the log calls this end (`tunnel entrance 127.0.0.1:20001`).
    name: String,
}

impl Cap {
    /// A cap of `limit` connections (`usize::MAX`: none) for the end `name`.
    pub(crate) fn new(limit: usize, name: String) -> Arc<Cap> {
        Arc::new(Cap {
            limit,
            open: AtomicUsize::new(0),
            refusing: AtomicBool::new(false),
            name,
        })
    }

    /// A slot for one more connection, held until the slot is dropped;
    /// `None` at the cap.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.limit).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            if !self.refusing.swap(true, Ordering::AcqRel) {
                record!(
                    warn,
                    TARGET_TUNNEL,
                    "{}: at its cap of {} connections; refusing new ones until one ends",
                    self.name,
                    self.limit
                );
            }
            return None;
        }
        // The end of a run is logged once the count is back under 90 % of
        // the cap: a cap held full logs twice, not once per connection.
        let open = self.open.load(Ordering::Acquire);
        if open.saturating_mul(10) <= self.limit.saturating_mul(9)
            && self.refusing.swap(false, Ordering::AcqRel)
        {
            record!(
                info,
                TARGET_TUNNEL,
                "{}: below its cap again ({open} of {} open); taking connections",
                self.name,
                self.limit
            );
        }
        Some(Slot(Arc::clone(self)))
    }
}

/// One connection's place under a [`Cap`].
pub(crate) struct Slot(Arc<Cap>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection that holds its slot for as long as it lives.
pub(crate) struct Counted {
    conn: BoxConn,
    _slot: Slot,
}

impl Counted {
    /// `conn`, boxed again, holding `slot`.
    pub(crate) fn boxed(conn: BoxConn, slot: Slot) -> BoxConn {
        Box::new(Counted { conn, _slot: slot })
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.conn).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.conn).poll_write(cx, buf)
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
        let cap = Cap::new(2, "test".into());
        let first = cap.admit().expect("first");
        let second = cap.admit().expect("second");
        assert!(cap.admit().is_none(), "over the cap");
        assert!(cap.admit().is_none(), "still over");
        drop(first);
        let third = cap.admit().expect("a slot came back");
        assert!(cap.admit().is_none());
        drop((second, third));
        assert_eq!(cap.open.load(Ordering::Acquire), 0);
    }
}
