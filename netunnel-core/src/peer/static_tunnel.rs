//! A static tunnel at run time: keeps a forward tunnel to a peer up, retrying
//! while the peer is away, until stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};

use super::link::{connect_counting, Connector, PeerLink, Timing};
use crate::error::Result;
use crate::instance::{record, TARGET_PEER};
use crate::metrics::{socket_text, StaticTunnelMetrics, Totals};
use crate::runtime::{timeout, RuntimeRef};
use crate::sync::{StopSignal, TaskTracker};
use crate::tunnel::spawn_tracked;
use crate::wire::StaticTunnel;

/// A running static tunnel.
pub struct Runner {
    spec: StaticTunnel,
    /// What the tunnel has carried, over every connection to the peer.
    totals: Arc<Totals>,
    online: Arc<AtomicBool>,
    stop: Arc<StopSignal>,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

struct Context {
    rt: RuntimeRef,
    connector: Arc<dyn Connector>,
    link: PeerLink,
    spec: StaticTunnel,
    timing: Timing,
    online: Arc<AtomicBool>,
    stop: Arc<StopSignal>,
    totals: Arc<Totals>,
}

impl Context {
    fn describe(&self) -> String {
        format!(
            "static tunnel {}:{} -> peer `{}` {}:{}",
            self.spec.tunnel_local_address,
            self.spec.tunnel_local_port,
            self.link.name,
            self.spec.tunnel_remote_address,
            self.spec.tunnel_remote_port
        )
    }

    /// One connection to the peer: open the tunnel, then wait until it is lost.
    /// `Err` when the tunnel could not be opened.
    async fn session(&self, first: &mut Option<oneshot::Sender<Result<()>>>) -> Result<()> {
        let totals = Arc::clone(&self.totals);
        let client = connect_counting(&self.rt, &*self.connector, &self.link, totals).await?;
        if self.stop.is_fired() {
            client.close().await;
            return Ok(());
        }
        let opened = client
            .open_tunnel_to_server(
                &self.spec.tunnel_local_address,
                Some(self.spec.tunnel_local_port),
                &self.spec.tunnel_remote_address,
                self.spec.tunnel_remote_port,
            )
            .await;
        let tunnel = match opened {
            Ok(tunnel) => tunnel,
            Err(err) => {
                client.close().await;
                return Err(err);
            }
        };
        self.online.store(true, Ordering::Release);
        record!(info, TARGET_PEER, "{} is online", self.describe());
        if let Some(first) = first.take() {
            let _ = first.send(Ok(()));
        }
        let lost = select(client.disconnected(), tunnel.stopped());
        let health = std::pin::pin!(async {
            loop {
                self.rt.sleep(self.timing.health_check_interval).await;
                let check = timeout(
                    &*self.rt,
                    self.timing.health_check_interval,
                    client.remote_version(),
                );
                match check.await {
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return format!("health check failed: {err}"),
                    None => return "health check timed out".to_string(),
                }
            }
        });
        let reason = match select(select(lost, health), self.stop.wait()).await {
            Either::Left((Either::Left(_), _)) => "the peer closed the connection".to_string(),
            Either::Left((Either::Right((reason, _)), _)) => reason,
            Either::Right(_) => "stopped".to_string(),
        };
        self.online.store(false, Ordering::Release);
        client.close().await;
        record!(
            info,
            TARGET_PEER,
            "{} is offline: {reason}",
            self.describe()
        );
        Ok(())
    }

    async fn run(self, mut first: Option<oneshot::Sender<Result<()>>>) {
        loop {
            // A session watches the stop signal itself, so it always closes
            // what it opened.
            match self.session(&mut first).await {
                Ok(()) => {}
                Err(err) => {
                    if let Some(first) = first.take() {
                        let _ = first.send(Err(err));
                        break;
                    }
                    record!(
                        warn,
                        TARGET_PEER,
                        "{}: {err}; retrying in {:?}",
                        self.describe(),
                        self.timing.retry_interval
                    );
                }
            }
            if self.stop.is_fired() {
                break;
            }
            let pause = self.rt.sleep(self.timing.retry_interval);
            if let Either::Right(_) = select(pause, self.stop.wait()).await {
                break;
            }
        }
        self.online.store(false, Ordering::Release);
    }
}

impl Runner {
    /// Starts keeping `spec` up. With `first`, the first attempt's outcome is
    /// sent there and a failed first attempt ends the runner.
    pub fn start(
        rt: RuntimeRef,
        connector: Arc<dyn Connector>,
        link: PeerLink,
        spec: StaticTunnel,
        timing: Timing,
        first: Option<oneshot::Sender<Result<()>>>,
    ) -> Arc<Runner> {
        let runner = Arc::new(Runner {
            spec: spec.clone(),
            totals: Arc::default(),
            online: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(StopSignal::new()),
            tasks: TaskTracker::new(),
        });
        let context = Context {
            rt: Arc::clone(&rt),
            connector,
            link,
            spec,
            timing,
            online: Arc::clone(&runner.online),
            stop: Arc::clone(&runner.stop),
            totals: Arc::clone(&runner.totals),
        };
        spawn_tracked(&*rt, &runner.tasks, context.run(first));
        runner
    }

    /// The tunnel this runner keeps up.
    pub fn spec(&self) -> &StaticTunnel {
        &self.spec
    }

    /// Whether the tunnel is up right now.
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// What the tunnel is and has carried, over every connection to its
    /// peer (called `peer` now: a peer may be renamed without a restart).
    pub(crate) fn metrics(&self, peer: String) -> StaticTunnelMetrics {
        StaticTunnelMetrics {
            peer,
            id: self.spec.id,
            entrance: socket_text(&self.spec.tunnel_local_address, self.spec.tunnel_local_port),
            exit: socket_text(
                &self.spec.tunnel_remote_address,
                self.spec.tunnel_remote_port,
            ),
            online: self.is_online(),
            counts: self.totals.traffic.read(),
        }
    }

    /// Stops the tunnel and waits (bounded) until its port is closed.
    pub async fn stop(&self, rt: &RuntimeRef) {
        self.stop.fire();
        timeout(&**rt, Duration::from_secs(10), self.tasks.wait()).await;
    }
}
