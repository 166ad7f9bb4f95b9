//! Holding a spare: waiting for a connection while answering pings, letting
//! a surplus spare go, then pumping the connection it takes.

use std::sync::Arc;

use async_tungstenite::tungstenite::Message;
use futures::future::{select, Either};

use super::{Entrance, CLOSE_GRACE, MAX_IDLE, MIN_SPARES, RETRY_DELAY};
use crate::instance::{record, TARGET_TUNNEL};
use crate::pump::pump;
use crate::runtime::BoxConn;
use crate::tunnel::idle::{self, End, Verdict};
use crate::tunnel::spawn_tracked;
use crate::wire::START_MESSAGE;
use crate::ws::{next_frame, WebSocket};

/// What ended a spare's wait for a connection.
enum Woken {
    /// A connection to carry.
    Taken(BoxConn),
    /// The entrance stopped accepting.
    Stopped,
    /// A frame, or `None` when the websocket closed, failed or went silent.
    Frame(Option<Message>),
    /// The spare sat idle for `linger` and is not needed: it was counted out.
    Surplus,
}

impl Entrance {
    /// Holds an idle spare until a connection takes it (`Some`), or until it
    /// is gone (`None`): stopped, closed by the other side, failed, silent,
    /// out of step, or not needed once `linger` passed.
    async fn hold_idle(self: &Arc<Self>, ws: &mut WebSocket) -> Option<BoxConn> {
        // One for the whole wait: the heartbeat's own state lives in
        // `next_frame`, which only a frame (a sign of life) may restart.
        let mut surplus = std::pin::pin!(self.surplus());
        loop {
            let stray = match self.wait_idle(ws, &mut surplus).await {
                Woken::Taken(conn) => return Some(conn),
                Woken::Stopped => return None,
                Woken::Surplus => {
                    let _ = crate::runtime::timeout(&*self.rt, CLOSE_GRACE, ws.close(None)).await;
                    return None;
                }
                Woken::Frame(None) => None,
                Woken::Frame(Some(frame)) => match idle::on_frame(End::Entrance, &frame) {
                    Verdict::Wait => continue,
                    Verdict::Closed => None,
                    Verdict::Start | Verdict::OutOfStep => Some(frame),
                },
            };
            // Counted out before the close, which may take a while: meanwhile
            // no other spare may think itself surplus because of this one.
            self.lock().idle -= 1;
            if let Some(frame) = stray {
                self.stats().failed(crate::metrics::Failure::OutOfStep);
                record!(
                    debug,
                    TARGET_TUNNEL,
                    "entrance {}: a {} frame on an idle spare; closing it",
                    self.local_addr,
                    idle::kind(&frame)
                );
                let _ = crate::runtime::timeout(&*self.rt, CLOSE_GRACE, ws.close(None)).await;
            } else {
                record!(
                    debug,
                    TARGET_TUNNEL,
                    "entrance {}: a spare websocket closed",
                    self.local_addr
                );
            }
            if self.pause(RETRY_DELAY).await {
                self.replenish();
            }
            return None;
        }
    }

    /// Waits for whichever comes first on an idle spare.
    async fn wait_idle<S>(&self, ws: &mut WebSocket, surplus: &mut S) -> Woken
    where
        S: std::future::Future<Output = ()> + Unpin,
    {
        let take = std::pin::pin!(self.queue_rx.recv());
        let frame = std::pin::pin!(next_frame(&*self.rt, ws, self.heartbeat));
        match select(select(take, frame), surplus).await {
            Either::Left((Either::Left((Ok(conn), _)), _)) => Woken::Taken(conn),
            Either::Left((Either::Left((Err(_), _)), _)) => Woken::Stopped,
            Either::Left((Either::Right((frame, _)), _)) => Woken::Frame(frame),
            Either::Right(((), _)) => Woken::Surplus,
        }
    }

    /// Completes once this spare has sat idle for a whole `linger` while it
    /// was not needed; it is then counted out (see `let_go_of_one`).
    async fn surplus(&self) {
        loop {
            self.rt.sleep(self.linger).await;
            if self.let_go_of_one() {
                return;
            }
        }
    }

    /// Counts one idle spare out if there are more than the waiting
    /// connections and the minimum need: `true` when the caller's may go.
    fn let_go_of_one(&self) -> bool {
        let mut spares = self.lock();
        let surplus = spares.idle > MIN_SPARES + spares.waiting;
        if surplus {
            spares.idle -= 1;
        }
        surplus
    }

    pub(super) fn hold(self: &Arc<Self>, ws: WebSocket) {
        if self.stop.is_fired() || self.draining.is_fired() {
            return;
        }
        self.lock().idle += 1;
        self.ready.fire();
        let entrance = Arc::clone(self);
        spawn_tracked(&*self.rt, &self.tasks, async move {
            let stop = entrance.stop.wait();
            let work = std::pin::pin!(entrance.hold_spare(ws));
            select(work, stop).await;
        });
    }

    /// Keeps a spare alive until a connection takes it, then pumps that connection.
    async fn hold_spare(self: &Arc<Self>, mut ws: WebSocket) {
        let Some(conn) = self.hold_idle(&mut ws).await else {
            return;
        };
        {
            let mut spares = self.lock();
            spares.idle -= 1;
            spares.waiting = spares.waiting.saturating_sub(1);
        }
        self.replenish();
        if ws.send(Message::Text(START_MESSAGE.into())).await.is_err() {
            // The spare died unnoticed: give the connection to another one.
            self.lock().waiting += 1;
            self.replenish();
            let _ = self.queue_tx.send(conn).await;
            return;
        }
        let handed_back = pump(
            &*self.rt,
            ws,
            conn,
            self.heartbeat,
            self.stop.wait(),
            self.reuse,
        )
        .await;
        if let Some(ws) = handed_back {
            if self.lock().idle < MAX_IDLE {
                self.hold(ws);
            }
        }
    }
}
