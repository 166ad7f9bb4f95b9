//! The entrance of a tunnel: a TCP listener whose connections each ride a spare
//! websocket that was opened before the connection arrived.
//!
//! Spare accounting: `idle` spares wait for a connection, `opening` are on their
//! way, `waiting` connections have no spare yet. Whenever one of these changes we
//! open enough spares that `idle + opening >= min_spares + waiting` (at most
//! `MAX_OPENING` at once), so a burst of connections opens websockets in parallel
//! instead of one round trip at a time. Once a burst is over, spares beyond
//! that need are closed after sitting idle for `linger` (see `hold.rs`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::{select, BoxFuture, Either, FutureExt};

use crate::error::Result;
use crate::instance::{record, TARGET_TUNNEL};
use crate::metrics::{Failure, TunnelStats};
use crate::runtime::{BoxConn, Listener, RuntimeRef};
use crate::sync::{StopSignal, TaskTracker};
use crate::tunnel::cap::{Cap, Counted};
use crate::tunnel::spawn_tracked;
use crate::ws::{Heartbeat, WebSocket};

mod hold;

/// Spares kept ready when no connection is waiting.
const MIN_SPARES: usize = 1;
/// Upper bound on websockets being opened at the same time.
const MAX_OPENING: usize = 64;
/// How long a spare asked of the other side may take to arrive.
const PUSHED_SPARE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most idle spares kept when connections hand their websockets back.
const MAX_IDLE: usize = 32;
/// How long we try to deliver a close frame before dropping a spare.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Pause after a failed attempt to open a spare.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// How an entrance keeps its spare websockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpareSettings {
    /// Keep-alive of every spare and of the connections they carry; `None` on
    /// a side that only answers pings (our server).
    pub heartbeat: Option<Heartbeat>,
    /// How long a spare beyond the ones needed may sit idle before it is
    /// closed: the spares a burst opened (or handed back) are let go once the
    /// burst is over, down to one. Our ends use the heartbeat interval.
    pub linger: Duration,
    /// Connections carried at once; past it, a new one is closed at once.
    pub max_connections: usize,
}

impl SpareSettings {
    /// Spares pinged per `heartbeat`, lingering one heartbeat interval (20 s
    /// without a heartbeat).
    pub(crate) fn new(heartbeat: Option<Heartbeat>) -> SpareSettings {
        SpareSettings {
            heartbeat,
            linger: heartbeat.map_or(Heartbeat::DEFAULT_INTERVAL, |beat| beat.idle),
            max_connections: usize::MAX,
        }
    }
}

/// Where spare websockets come from.
pub(crate) trait SpareSource: Send + Sync {
    /// Opens one spare. `Ok(Some(ws))` when this side opens it (a client);
    /// `Ok(None)` when the other side was asked to open it and it will arrive
    /// through [`Entrance::add_spare`] (a server).
    fn open(&self) -> BoxFuture<'static, Result<Option<WebSocket>>>;
}

#[derive(Default)]
struct Spares {
    idle: usize,
    opening: usize,
    waiting: usize,
    /// Requests the other side accepted whose websocket has not arrived yet.
    pushed: VecDeque<u64>,
    /// Websockets that arrived before the answer to their request (the other
    /// side may open the websocket before its answer reaches us).
    early: usize,
    next_push: u64,
}

/// The entrance side of one tunnel.
pub(crate) struct Entrance {
    rt: RuntimeRef,
    source: Arc<dyn SpareSource>,
    heartbeat: Option<Heartbeat>,
    linger: Duration,
    reuse: bool,
    local_addr: SocketAddr,
    queue_tx: async_channel::Sender<BoxConn>,
    queue_rx: async_channel::Receiver<BoxConn>,
    spares: Mutex<Spares>,
    ready: StopSignal,
    stop: StopSignal,
    /// Fired by [`Entrance::drain`]: no new connection, open ones go on.
    draining: StopSignal,
    tasks: TaskTracker,
    cap: Arc<Cap>,
}

impl std::fmt::Debug for Entrance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entrance({})", self.local_addr)
    }
}

impl Entrance {
    /// Starts accepting on `listener` and opening spares from `source`. With
    /// `reuse` (both sides ours) a websocket whose connection ended cleanly goes
    /// back to the spares. What it carries is counted in `stats`.
    pub(crate) fn start(
        rt: RuntimeRef,
        listener: Box<dyn Listener>,
        source: Arc<dyn SpareSource>,
        settings: SpareSettings,
        reuse: bool,
        stats: Arc<TunnelStats>,
    ) -> Result<Arc<Entrance>> {
        let local_addr = listener
            .local_addr()
            .map_err(|err| crate::Error::io("reading the entrance address", err))?;
        let (queue_tx, queue_rx) = async_channel::unbounded();
        let entrance = Arc::new(Entrance {
            rt,
            source,
            heartbeat: settings.heartbeat,
            linger: settings.linger,
            reuse,
            local_addr,
            queue_tx,
            queue_rx,
            spares: Mutex::new(Spares::default()),
            ready: StopSignal::new(),
            stop: StopSignal::new(),
            draining: StopSignal::new(),
            tasks: TaskTracker::new(),
            cap: Cap::new(
                settings.max_connections,
                format!("tunnel entrance {local_addr}"),
                stats,
            ),
        });
        let accepting = Arc::clone(&entrance);
        spawn_tracked(&*entrance.rt, &entrance.tasks, async move {
            accepting.accept_loop(listener).await;
        });
        entrance.replenish();
        Ok(entrance)
    }

    /// The address the entrance listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the entrance has carried.
    pub(crate) fn stats(&self) -> &Arc<TunnelStats> {
        self.cap.stats()
    }

    /// Spare websockets held open and waiting for a connection now.
    #[cfg(test)]
    pub(crate) fn idle_spares(&self) -> usize {
        self.lock().idle
    }

    /// Completes once the first spare is ready (or the entrance stopped).
    pub(crate) async fn wait_ready(&self) {
        let ready = self.ready.wait();
        let stop = self.stop.wait();
        select(ready, stop).await;
    }

    /// Hands over a websocket the other side opened on request.
    pub(crate) fn add_spare(self: &Arc<Self>, ws: WebSocket) {
        {
            let mut spares = self.lock();
            if spares.pushed.pop_front().is_none() {
                spares.early += 1;
            }
            spares.opening = spares.opening.saturating_sub(1);
        }
        self.hold(ws);
    }

    /// Stops accepting and closes every connection and spare.
    pub(crate) fn stop(&self) {
        if self.stop.fire() {
            self.queue_rx.close();
            self.drop_waiting();
        }
    }

    /// Closes the connections still waiting for a spare: a closed channel
    /// still hands out what it holds, and they would otherwise stay open
    /// (and counted) for as long as anything holds the entrance.
    fn drop_waiting(&self) {
        while let Ok(waiting) = self.queue_rx.try_recv() {
            drop(waiting);
        }
    }

    /// Stops accepting and closes the spares and the connections still waiting
    /// for one; connections already riding a websocket go on until they end (see
    /// [`Entrance::wait_stopped`]).
    pub(crate) fn drain(&self) {
        if self.draining.fire() {
            self.queue_rx.close();
            self.drop_waiting();
        }
    }

    /// Completes once the entrance stops or starts draining: the end of
    /// everything but the connections already being pumped.
    fn winding_down(&self) -> impl std::future::Future<Output = ()> + Send + Unpin + 'static {
        select(self.stop.wait(), self.draining.wait()).map(|_| ())
    }

    /// Waits until every task of this entrance has ended (call
    /// [`Entrance::stop`] or [`Entrance::drain`] first).
    pub(crate) async fn wait_stopped(&self) {
        self.tasks.wait().await;
    }

    fn lock(&self) -> MutexGuard<'_, Spares> {
        self.spares.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn accept_loop(self: Arc<Self>, listener: Box<dyn Listener>) {
        loop {
            let accept = listener.accept();
            let conn = match select(accept, self.winding_down()).await {
                Either::Right(_) => return,
                Either::Left((Ok((conn, _peer)), _)) => conn,
                Either::Left((Err(err), _)) => {
                    record!(
                        warn,
                        TARGET_TUNNEL,
                        "entrance {} cannot accept: {err}",
                        self.local_addr
                    );
                    if !self.pause(Duration::from_millis(50)).await {
                        return;
                    }
                    continue;
                }
            };
            // At the cap, the connection is closed at once (dropped).
            let Some(slot) = self.cap.admit() else {
                continue;
            };
            let conn = Counted::boxed(conn, slot);
            self.lock().waiting += 1;
            self.replenish();
            if self.queue_tx.send(conn).await.is_err() {
                return;
            }
        }
    }

    fn replenish(self: &Arc<Self>) {
        if self.stop.is_fired() || self.draining.is_fired() {
            return;
        }
        let count = {
            let mut spares = self.lock();
            let want = MIN_SPARES + spares.waiting;
            let have = spares.idle + spares.opening;
            let room = MAX_OPENING.saturating_sub(spares.opening);
            let count = want.saturating_sub(have).min(room);
            spares.opening += count;
            count
        };
        for _ in 0..count {
            let entrance = Arc::clone(self);
            spawn_tracked(&*self.rt, &self.tasks, async move {
                entrance.open_one().await;
            });
        }
    }

    async fn open_one(self: Arc<Self>) {
        let opened = select(self.source.open(), self.winding_down()).await;
        match opened {
            Either::Right(_) => {}
            Either::Left((Ok(Some(ws)), _)) => {
                {
                    let mut spares = self.lock();
                    spares.opening = spares.opening.saturating_sub(1);
                }
                self.hold(ws);
            }
            Either::Left((Ok(None), _)) => {
                let id = {
                    let mut spares = self.lock();
                    if spares.early > 0 {
                        // Its websocket is already here.
                        spares.early -= 1;
                        return;
                    }
                    let id = spares.next_push;
                    spares.next_push += 1;
                    spares.pushed.push_back(id);
                    id
                };
                if !self.pause(PUSHED_SPARE_TIMEOUT).await {
                    return;
                }
                let expired = {
                    let mut spares = self.lock();
                    let before = spares.pushed.len();
                    spares.pushed.retain(|pending| *pending != id);
                    let expired = spares.pushed.len() != before;
                    if expired {
                        spares.opening = spares.opening.saturating_sub(1);
                    }
                    expired
                };
                if expired {
                    self.stats().failed(Failure::WebsocketTimeout);
                    record!(
                        warn,
                        TARGET_TUNNEL,
                        "entrance {}: a requested websocket did not arrive in time; asking again",
                        self.local_addr
                    );
                    self.replenish();
                }
            }
            Either::Left((Err(err), _)) => {
                // The channel closing under a tunnel being torn down is not
                // a failure of the tunnel.
                if !matches!(err, crate::Error::ChannelClosed) {
                    self.stats().failed(Failure::WebsocketFailed);
                }
                record!(
                    warn,
                    TARGET_TUNNEL,
                    "entrance {}: cannot open a websocket: {err}",
                    self.local_addr
                );
                {
                    let mut spares = self.lock();
                    spares.opening = spares.opening.saturating_sub(1);
                }
                if self.pause(RETRY_DELAY).await {
                    self.replenish();
                }
            }
        }
    }

    /// Sleeps for `duration`; `false` when the entrance stopped or started
    /// draining meanwhile.
    async fn pause(&self, duration: Duration) -> bool {
        let sleep = self.rt.sleep(duration);
        matches!(select(sleep, self.winding_down()).await, Either::Left(_))
    }
}
