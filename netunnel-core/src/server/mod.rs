//! The server's state machine: channels, their tunnels, and the rules that
//! govern them. The HTTP layer (frontend) maps routes onto these methods.

mod caps;
mod destination;
mod proxy_settings;
mod tunnels;

pub use caps::Limits;

pub use crate::config::AllowList;
pub(crate) use crate::tunnel::TunnelEnd;

use crate::tunnel::Refusing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::auth::ServerAuth;
use crate::channel::{AcceptAll, Channel};
use crate::config::ConfigStore;
use crate::error::{Error, Result};
use crate::instance::{record, TARGET_SERVER};
use crate::metrics::{Metrics, OpenTunnel, Refusal, Totals};
use crate::peer::{Connector, PeerManager};
use crate::runtime::RuntimeRef;
use crate::wire::ChannelCreated;
use crate::ws::{Heartbeat, Upgraded};

/// How long a request waits for its channel's websocket upgrade to finish.
const CONNECT_GRACE: Duration = Duration::from_secs(5);

/// Run-time settings of a [`ServerCore`] (what the config file holds lives in
/// its [`ConfigStore`]).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// A channel not connected within this time is dropped.
    pub channel_connect_timeout: Duration,
    /// Pings on idle control channels; `None` disables them.
    pub heartbeat: Option<Heartbeat>,
    /// How much the server carries at once.
    pub limits: Limits,
    /// How long a client may take to send the head of its first request on
    /// a connection, and then again each request body: past it the head is
    /// answered 408 and the body 400, and the connection is closed.
    pub request_timeout: Duration,
    /// Whether `GET /metrics` answers (behind the auth plugin, as every
    /// route); off by default.
    pub metrics: bool,
    /// Tunnels listed with series of their own in the metrics; past it they
    /// are counted in the totals and in `netunnel_tunnels_unlisted` only.
    pub metrics_tunnel_limit: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            channel_connect_timeout: Duration::from_secs(30),
            heartbeat: Some(Heartbeat::default()),
            limits: Limits::default(),
            request_timeout: Duration::from_secs(30),
            metrics: false,
            metrics_tunnel_limit: crate::metrics::DEFAULT_TUNNEL_LIMIT,
        }
    }
}

/// What [`ServerCore::channels`] reports of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Channel id.
    pub id: u64,
    /// Version the client reported.
    pub client_version: String,
    /// Whether the control websocket is connected.
    pub connected: bool,
    /// Ids of its tunnels.
    pub tunnels: Vec<u64>,
}

struct ServerChannel {
    id: u64,
    client_version: String,
    control: OnceLock<Arc<Channel>>,
    /// Fired once `control` is set.
    connected: crate::sync::StopSignal,
    /// Fired by [`ServerCore::close_channel`], and when the control
    /// websocket ends: a websocket that arrives (or sets `control`)
    /// afterwards is closed, not served, and a tunnel is not added.
    closing: crate::sync::StopSignal,
    tunnels: Mutex<HashMap<u64, TunnelEnd>>,
    /// Set (under the channels lock) when its websocket upgrade is let
    /// through: from then on it counts against `max_channels`.
    admitted: AtomicBool,
    next_tunnel: AtomicU64,
    /// Whether new tunnels are being refused at this channel's cap.
    refusing_tunnels: Refusing,
}

impl ServerChannel {
    fn tunnels(&self) -> MutexGuard<'_, HashMap<u64, TunnelEnd>> {
        self.tunnels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop_tunnels(&self) -> Vec<TunnelEnd> {
        let ends: Vec<TunnelEnd> = self.tunnels().drain().map(|(_, end)| end).collect();
        for end in &ends {
            end.stop();
        }
        ends
    }
}

/// The state of a NETunnel server, independent of HTTP.
pub struct ServerCore {
    rt: RuntimeRef,
    auth: Arc<dyn ServerAuth>,
    store: Arc<ConfigStore>,
    peers: PeerManager,
    settings: Mutex<ServerSettings>,
    channels: Mutex<HashMap<u64, Arc<ServerChannel>>>,
    next_channel: AtomicU64,
    /// One token per connected channel, for as long as it is served.
    serving: crate::sync::TaskTracker,
    /// Whether new channels are being refused at the cap (logged once).
    refusing_channels: Refusing,
    /// What every channel and tunnel has carried and been refused.
    totals: Arc<Totals>,
}

impl std::fmt::Debug for ServerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCore").finish_non_exhaustive()
    }
}

impl ServerCore {
    /// A server with no channels, configured by `store`, reaching its peers
    /// through `connector`, authenticating requests with `auth`. Call
    /// [`ServerCore::start_peers`] once serving.
    pub fn new(
        rt: RuntimeRef,
        settings: ServerSettings,
        store: Arc<ConfigStore>,
        connector: Arc<dyn Connector>,
        auth: Arc<dyn ServerAuth>,
    ) -> Arc<ServerCore> {
        Arc::new(ServerCore {
            peers: PeerManager::new(
                Arc::clone(&rt),
                Arc::clone(&store),
                connector,
                Arc::clone(&auth),
            ),
            auth,
            rt,
            store,
            settings: Mutex::new(settings),
            channels: Mutex::new(HashMap::new()),
            next_channel: AtomicU64::new(1),
            serving: crate::sync::TaskTracker::new(),
            refusing_channels: Refusing::new(TARGET_SERVER, "new channels".into()),
            totals: Arc::new(Totals::default()),
        })
    }

    /// What the server carries now and has carried: its channels, its
    /// tunnels (the first [`ServerSettings::metrics_tunnel_limit`] by channel
    /// and id), the refusals and failures by reason, and its static tunnels
    /// to peers (in `static_tunnels` only: they are clients of the peers).
    pub fn metrics(&self) -> Metrics {
        // Under the locks only the counters' handles are taken; their labels
        // are copied afterwards, for the listed tunnels only.
        let (channels, tunnels) = {
            let map = self.channels_map();
            let channels = map.values().filter(|c| c.control.get().is_some()).count();
            let tunnels: Vec<OpenTunnel> = map
                .values()
                .flat_map(|c| {
                    c.tunnels()
                        .iter()
                        .map(|(id, end)| (c.id, *id, Arc::clone(end.stats())))
                        .collect::<Vec<_>>()
                })
                .collect();
            (channels as u64, tunnels)
        };
        let limit = self.settings().metrics_tunnel_limit;
        let mut metrics = Metrics::new(&self.totals, channels, tunnels, limit);
        metrics.static_tunnels = self.peers.static_tunnel_metrics();
        metrics
    }

    /// Counts a refusal that belongs to no tunnel in [`ServerCore::metrics`]:
    /// what an HTTP frontend decides itself, such as the auth plugin's
    /// refusals (the built-in frontend counts those).
    pub fn count_refusal(&self, reason: Refusal) {
        self.totals.refused(reason);
    }

    /// The runtime the server runs on.
    pub fn runtime(&self) -> &RuntimeRef {
        &self.rt
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> ServerSettings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The peers and their static tunnels.
    pub fn peers(&self) -> &PeerManager {
        &self.peers
    }

    /// Starts the static tunnels stored in the configuration.
    pub async fn start_peers(&self) -> Result<()> {
        self.peers.restore().await
    }

    /// The authentication plugin.
    pub fn auth(&self) -> &Arc<dyn ServerAuth> {
        &self.auth
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<ConfigStore> {
        &self.store
    }

    /// Replaces the allow-list of forward tunnel destinations (and saves it).
    pub async fn set_allowed_tunnel_destinations(&self, allowed: AllowList) -> Result<()> {
        allowed.validate().map_err(Error::BadRequest)?;
        let value = serde_json::to_value(allowed).map_err(|err| Error::Config(err.to_string()))?;
        self.store
            .update_unblocked(&*self.rt, |values, _| {
                values.insert("allowed_tunnel_destinations".into(), value)
            })
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    fn channels_map(&self) -> MutexGuard<'_, HashMap<u64, Arc<ServerChannel>>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn channel(&self, cid: u64) -> Result<Arc<ServerChannel>> {
        self.channels_map()
            .get(&cid)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("channel `{cid}` does not exist")))
    }

    /// `POST /channels`: registers a channel that must be connected within the
    /// connect timeout; [`Error::Busy`] at [`Limits::max_channels`].
    pub fn create_channel(self: &Arc<Self>, client_version: String) -> Result<ChannelCreated> {
        let id = self.next_channel.fetch_add(1, Ordering::Relaxed);
        let channel = Arc::new(ServerChannel {
            id,
            client_version,
            control: OnceLock::new(),
            connected: crate::sync::StopSignal::new(),
            closing: crate::sync::StopSignal::new(),
            tunnels: Mutex::new(HashMap::new()),
            admitted: AtomicBool::new(false),
            next_tunnel: AtomicU64::new(1),
            refusing_tunnels: Refusing::new(TARGET_SERVER, format!("new tunnels on channel {id}")),
        });
        let limits = self.settings().limits;
        let (connected, evicted) = {
            let mut channels = self.channels_map();
            let mut pending: Vec<u64> = channels
                .values()
                .filter(|c| !c.admitted.load(Ordering::SeqCst))
                .map(|c| c.id)
                .collect();
            let connected = channels.len() - pending.len();
            if connected >= limits.max_channels {
                drop(channels);
                self.totals.refused(Refusal::ChannelLimit);
                self.refusing_channels
                    .refused(connected, limits.max_channels);
                return Err(Error::Busy(format!(
                    "the server has its most channels ({}); try again later",
                    limits.max_channels
                )));
            }
            // Channels created and never connected cannot crowd out the
            // clients that connect theirs: past their own cap, the oldest go.
            pending.sort_unstable();
            let excess = (pending.len() + 1).saturating_sub(limits.max_pending_channels);
            let evicted: Vec<u64> = pending.into_iter().take(excess).collect();
            for old in &evicted {
                channels.remove(old);
            }
            channels.insert(id, channel);
            (connected, evicted)
        };
        self.refusing_channels
            .admitted(connected + 1, limits.max_channels);
        if !evicted.is_empty() {
            record!(
                debug,
                TARGET_SERVER,
                "dropped {} channels never connected, to make room for channel {id}",
                evicted.len()
            );
        }
        let server = Arc::downgrade(self);
        let wait = self.settings().channel_connect_timeout;
        let rt = Arc::clone(&self.rt);
        self.rt.spawn(crate::instance::inherit(async move {
            rt.sleep(wait).await;
            let Some(server) = server.upgrade() else {
                return;
            };
            let dropped = {
                let mut channels = server.channels_map();
                let unconnected = channels.get(&id).is_some_and(|c| c.control.get().is_none());
                unconnected && channels.remove(&id).is_some()
            };
            // Logged after the lock is released: a logger may take other
            // locks (a binding's, the Python GIL) that a caller of
            // `channels()` holds while waiting for this one.
            if dropped {
                record!(
                    info,
                    TARGET_SERVER,
                    "channel {id} was never connected; dropped"
                );
            }
        }));
        Ok(ChannelCreated {
            channel_id: id,
            version: crate::VERSION.to_string(),
        })
    }

    /// `Ok` when channel `cid` exists.
    pub fn check_channel(&self, cid: u64) -> Result<()> {
        self.channel(cid).map(|_| ())
    }

    /// Checks that `GET /channels/{cid}/connect` may be upgraded, and counts
    /// the channel against [`Limits::max_channels`] from then on:
    /// [`Error::Busy`] when that many are connected or connecting already
    /// (channels created while others were still connecting would otherwise
    /// all get through).
    pub fn check_channel_connect(&self, cid: u64) -> Result<()> {
        let limit = self.settings().limits.max_channels;
        let channels = self.channels_map();
        let channel = channels
            .get(&cid)
            .ok_or_else(|| Error::NotFound(format!("channel `{cid}` does not exist")))?;
        if channel.control.get().is_some() || channel.admitted.load(Ordering::SeqCst) {
            return Err(Error::BadRequest(format!(
                "channel `{cid}` is already connected"
            )));
        }
        let admitted = channels
            .values()
            .filter(|c| c.admitted.load(Ordering::SeqCst))
            .count();
        if admitted >= limit {
            drop(channels);
            self.totals.refused(Refusal::ChannelLimit);
            self.refusing_channels.refused(admitted, limit);
            return Err(Error::Busy(format!(
                "the server has its most channels ({limit}); try again later"
            )));
        }
        channel.admitted.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Serves the control websocket of channel `cid` until it closes, then ends
    /// every tunnel of the channel and forgets it.
    pub async fn serve_channel(self: &Arc<Self>, cid: u64, upgraded: Upgraded) {
        let mut ws = upgraded.into_server().await;
        let Ok(entry) = self.channel(cid) else {
            // Closed while its websocket was being upgraded: say so, rather
            // than leave the client to notice the connection going away.
            let _ = crate::runtime::timeout(&*self.rt, CONNECT_GRACE, ws.close(None)).await;
            return;
        };
        let _serving = self.serving.token();
        let (control, receiver) = Channel::new(cid, ws);
        if entry.control.set(Arc::clone(&control)).is_err() {
            record!(
                warn,
                TARGET_SERVER,
                "channel {cid} connected twice; closing the second websocket"
            );
            return;
        }
        entry.connected.fire();
        self.totals.channel_opened();
        // Closed while its websocket was being set up: `close_channel` found no
        // control to close, so close it here (serve sees it at once). The
        // fences pair with close_channel's: one of the two sees the other.
        std::sync::atomic::fence(Ordering::SeqCst);
        if entry.closing.is_fired() {
            control.close();
        }
        record!(
            debug,
            TARGET_SERVER,
            "channel {cid} connected (client version {})",
            entry.client_version
        );
        let heartbeat = self.settings().heartbeat;
        control
            .serve(
                Arc::clone(&self.rt),
                receiver,
                Arc::new(AcceptAll),
                heartbeat,
            )
            .await;
        // Before the tunnels stop: a tunnel being added from now on is
        // refused (see `add_tunnel`), not left behind.
        entry.closing.fire();
        self.channels_map().remove(&cid);
        let ends = entry.stop_tunnels();
        for end in ends {
            end.wait_stopped().await;
        }
        record!(debug, TARGET_SERVER, "channel {cid} ended");
    }

    /// Closes channel `cid` (the client sees its channel end) and its tunnels.
    pub fn close_channel(&self, cid: u64) -> Result<()> {
        let entry = self.channel(cid)?;
        // First, so a websocket setting `control` from now on sees it.
        entry.closing.fire();
        std::sync::atomic::fence(Ordering::SeqCst);
        match entry.control.get() {
            Some(control) => control.close(),
            None => {
                self.channels_map().remove(&cid);
            }
        }
        entry.stop_tunnels();
        Ok(())
    }

    /// Every channel, by id.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        let mut list: Vec<ChannelInfo> = self
            .channels_map()
            .values()
            .map(|entry| {
                let mut tunnels: Vec<u64> = entry.tunnels().keys().copied().collect();
                tunnels.sort_unstable();
                ChannelInfo {
                    id: entry.id,
                    client_version: entry.client_version.clone(),
                    connected: entry.control.get().is_some(),
                    tunnels,
                }
            })
            .collect();
        list.sort_by_key(|info| info.id);
        list
    }

    /// Completes once no channel is being served (after [`ServerCore::close_all`]:
    /// once every channel and its tunnels have ended).
    pub async fn wait_channels_closed(&self) {
        self.serving.wait().await;
    }

    /// Closes every channel.
    pub fn close_all(&self) {
        let ids: Vec<u64> = self.channels_map().keys().copied().collect();
        for id in ids {
            let _ = self.close_channel(id);
        }
    }
}
