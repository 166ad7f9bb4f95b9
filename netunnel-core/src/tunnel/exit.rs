//! The exit of a tunnel: each websocket it receives becomes one TCP connection to
//! the destination, opened once the entrance sends its first frame.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};

use crate::instance::{record, TARGET_TUNNEL};
use crate::metrics::{Failure, TunnelStats};
use crate::pump::pump;
use crate::runtime::{timeout, RuntimeRef};
use crate::sync::{StopSignal, TaskTracker};
use crate::tunnel::cap::{Cap, Counted};
use crate::tunnel::idle::{self, End, Verdict};
use crate::tunnel::spawn_tracked;
use crate::ws::{next_frame, Heartbeat, WebSocket};

/// How long we try to deliver a close frame before dropping a websocket.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long one of several addresses may take to accept a connection.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The exit side of one tunnel.
pub(crate) struct Exit {
    rt: RuntimeRef,
    /// Tried in order for each connection.
    hosts: Vec<String>,
    port: u16,
    heartbeat: Option<Heartbeat>,
    reuse: bool,
    stop: StopSignal,
    /// Fired by [`Exit::drain`]: no new connection, open ones go on.
    draining: StopSignal,
    tasks: TaskTracker,
    cap: Arc<Cap>,
}

impl std::fmt::Debug for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.hosts.join("|"), self.port)
    }
}

impl Exit {
    /// An exit that connects to `host:port`. `heartbeat` applies to every
    /// websocket it serves (clients ping, servers only answer); with `reuse`
    /// (both sides ours) a websocket serves one connection after another.
    /// What it carries is counted in `stats`.
    pub(crate) fn new(
        rt: RuntimeRef,
        host: String,
        port: u16,
        heartbeat: Option<Heartbeat>,
        reuse: bool,
        stats: Arc<TunnelStats>,
    ) -> Arc<Exit> {
        Self::to_hosts(rt, vec![host], port, heartbeat, reuse, usize::MAX, stats)
    }

    /// An exit that connects to exactly these addresses (tried in order),
    /// never resolving a name: what the destination rules checked. It carries
    /// at most `max_connections` at once.
    pub(crate) fn pinned(
        rt: RuntimeRef,
        addresses: &[std::net::IpAddr],
        port: u16,
        reuse: bool,
        max_connections: usize,
        stats: Arc<TunnelStats>,
    ) -> Arc<Exit> {
        let hosts = addresses.iter().map(ToString::to_string).collect();
        Self::to_hosts(rt, hosts, port, None, reuse, max_connections, stats)
    }

    fn to_hosts(
        rt: RuntimeRef,
        hosts: Vec<String>,
        port: u16,
        heartbeat: Option<Heartbeat>,
        reuse: bool,
        max_connections: usize,
        stats: Arc<TunnelStats>,
    ) -> Arc<Exit> {
        let name = format!("tunnel exit to {}:{port}", hosts.join("|"));
        Arc::new(Exit {
            cap: Cap::new(max_connections, name, stats),
            rt,
            hosts,
            port,
            heartbeat,
            reuse,
            stop: StopSignal::new(),
            draining: StopSignal::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// What the exit has carried.
    pub(crate) fn stats(&self) -> &Arc<TunnelStats> {
        self.cap.stats()
    }

    /// Serves one websocket in the background (closes it if the exit is
    /// stopping or draining).
    pub(crate) fn serve(self: &Arc<Self>, ws: WebSocket) {
        if self.draining.is_fired() || self.stop.is_fired() {
            return;
        }
        let exit = Arc::clone(self);
        spawn_tracked(&*self.rt, &self.tasks, async move {
            let stop = exit.stop.wait();
            let work = std::pin::pin!(exit.serve_one(ws));
            futures::future::select(work, stop).await;
        });
    }

    async fn serve_one(&self, mut ws: WebSocket) {
        loop {
            if !self.wait_for_start(&mut ws).await {
                return;
            }
            // At the cap, this connection is closed before it reaches the
            // destination.
            let Some(slot) = self.cap.admit() else {
                let _ = timeout(&*self.rt, CLOSE_GRACE, ws.close(None)).await;
                return;
            };
            let Some(tcp) = self.connect().await else {
                self.stats().failed(Failure::ConnectFailed);
                let _ = timeout(&*self.rt, CLOSE_GRACE, ws.close(None)).await;
                return;
            };
            let tcp = Counted::boxed(tcp, slot);
            let stop = self.stop.wait();
            match pump(&*self.rt, ws, tcp, self.heartbeat, stop, self.reuse).await {
                Some(again) => ws = again,
                None => return,
            }
        }
    }

    /// Waits on an idle websocket (fresh, or handed back by its last
    /// connection) until the entrance announces a connection with `pasten`:
    /// `true`. `false` when the websocket closed, failed or stopped answering
    /// (it is dropped), or fell out of step or the exit is draining (we close
    /// it).
    async fn wait_for_start(&self, ws: &mut WebSocket) -> bool {
        loop {
            let frame = {
                let frame = std::pin::pin!(next_frame(&*self.rt, ws, self.heartbeat));
                match select(frame, self.draining.wait()).await {
                    Either::Left((frame, _)) => Some(frame),
                    Either::Right(_) => None,
                }
            };
            let Some(frame) = frame else {
                // Draining: it carries no connection now and gets no new one.
                let _ = timeout(&*self.rt, CLOSE_GRACE, ws.close(None)).await;
                return false;
            };
            let Some(frame) = frame else {
                return false;
            };
            match idle::on_frame(End::Exit, &frame) {
                Verdict::Wait => {}
                Verdict::Start => return true,
                Verdict::Closed => return false,
                Verdict::OutOfStep => {
                    self.stats().failed(Failure::OutOfStep);
                    record!(
                        debug,
                        TARGET_TUNNEL,
                        "tunnel exit to {:?}: a {} frame before `pasten`; closing the websocket",
                        self,
                        idle::kind(&frame)
                    );
                    let why = crate::ws::reason(
                        async_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Protocol,
                        "a data frame before `pasten`",
                    );
                    let _ = timeout(&*self.rt, CLOSE_GRACE, ws.close(Some(why))).await;
                    return false;
                }
            }
        }
    }

    /// A connection to the first of the hosts that accepts one.
    async fn connect(&self) -> Option<crate::runtime::BoxConn> {
        for (i, host) in self.hosts.iter().enumerate() {
            let connecting = self.rt.connect(host.clone(), self.port);
            // With another address to try, an address that never answers
            // does not get the system's whole connect timeout.
            let outcome = if i + 1 < self.hosts.len() {
                timeout(&*self.rt, ATTEMPT_TIMEOUT, connecting)
                    .await
                    .unwrap_or_else(|| Err(std::io::ErrorKind::TimedOut.into()))
            } else {
                connecting.await
            };
            match outcome {
                Ok(tcp) => return Some(tcp),
                Err(err) => record!(
                    debug,
                    TARGET_TUNNEL,
                    "tunnel exit cannot connect to {host}:{}: {err}",
                    self.port
                ),
            }
        }
        None
    }

    /// Closes every connection of this exit.
    pub(crate) fn stop(&self) {
        self.stop.fire();
    }

    /// Takes no new connection and closes the websockets waiting for one; open
    /// connections go on until they end (see [`Exit::wait_stopped`]).
    pub(crate) fn drain(&self) {
        self.draining.fire();
    }

    /// Waits until every connection has ended (call [`Exit::stop`] first to
    /// force it, or [`Exit::drain`] to let the open ones finish).
    pub(crate) async fn wait_stopped(&self) {
        self.tasks.wait().await;
    }
}
