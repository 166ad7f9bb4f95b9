//! The server's state machine: channels, their tunnels, and the rules that
//! govern them. The HTTP layer (frontend) maps routes onto these methods.

mod allow;
mod proxy_settings;

pub use allow::AllowList;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::auth::ServerAuth;
use crate::channel::{AcceptAll, Channel};
use crate::config::ConfigStore;
use crate::error::{Error, Result};
use crate::peer::{Connector, PeerManager};
use crate::runtime::RuntimeRef;
use crate::tunnel::{Entrance, Exit, SpareSource};
use crate::wire::{ChannelCreated, ControlMessage, CreateTunnel, TunnelCreated};
use crate::ws::{Heartbeat, WebSocket};

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
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            channel_connect_timeout: Duration::from_secs(30),
            heartbeat: Some(Heartbeat::default()),
        }
    }
}

/// One end of a tunnel, as held by whichever side owns it.
#[derive(Debug, Clone)]
pub enum TunnelEnd {
    /// This side listens.
    Entrance(Arc<Entrance>),
    /// This side connects out.
    Exit(Arc<Exit>),
}

impl TunnelEnd {
    /// Closes every connection of the tunnel end.
    pub fn stop(&self) {
        match self {
            TunnelEnd::Entrance(entrance) => entrance.stop(),
            TunnelEnd::Exit(exit) => exit.stop(),
        }
    }

    /// Takes no new connection; the open ones go on until they end.
    pub fn drain(&self) {
        match self {
            TunnelEnd::Entrance(entrance) => entrance.drain(),
            TunnelEnd::Exit(exit) => exit.drain(),
        }
    }

    /// Waits until every task of the tunnel end has finished.
    pub async fn wait_stopped(&self) {
        match self {
            TunnelEnd::Entrance(entrance) => entrance.wait_stopped().await,
            TunnelEnd::Exit(exit) => exit.wait_stopped().await,
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
    tunnels: Mutex<HashMap<u64, TunnelEnd>>,
    next_tunnel: AtomicU64,
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

/// Asks the client, over the control channel, for one more websocket.
struct AskClient {
    channel: Weak<Channel>,
    tunnel_id: u64,
}

impl SpareSource for AskClient {
    fn open(&self) -> BoxFuture<'static, Result<Option<WebSocket>>> {
        let channel = self.channel.upgrade();
        let tunnel_id = self.tunnel_id;
        Box::pin(async move {
            let channel = channel.ok_or(Error::ChannelClosed)?;
            channel
                .request(ControlMessage::NewConnection { tunnel_id })
                .await?;
            Ok(None)
        })
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
        })
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
        let value = serde_json::to_value(allowed).map_err(|err| Error::Config(err.to_string()))?;
        self.store
            .update_unblocked(&*self.rt, |values, _| {
                values.insert("allowed_tunnel_destinations".into(), value)
            })
            .await
            .map_err(|err| Error::Config(err.to_string()))?;
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
    /// connect timeout.
    pub fn create_channel(self: &Arc<Self>, client_version: String) -> ChannelCreated {
        let id = self.next_channel.fetch_add(1, Ordering::Relaxed);
        let channel = Arc::new(ServerChannel {
            id,
            client_version,
            control: OnceLock::new(),
            connected: crate::sync::StopSignal::new(),
            tunnels: Mutex::new(HashMap::new()),
            next_tunnel: AtomicU64::new(1),
        });
        self.channels_map().insert(id, channel);
        let server = Arc::downgrade(self);
        let wait = self.settings().channel_connect_timeout;
        let rt = Arc::clone(&self.rt);
        self.rt.spawn(Box::pin(async move {
            rt.sleep(wait).await;
            let Some(server) = server.upgrade() else {
                return;
            };
            let mut channels = server.channels_map();
            if channels.get(&id).is_some_and(|c| c.control.get().is_none()) {
                channels.remove(&id);
                log::info!("channel {id} was never connected; dropped");
            }
        }));
        ChannelCreated {
            channel_id: id,
            version: crate::VERSION.to_string(),
        }
    }

    /// `Ok` when channel `cid` exists.
    pub fn check_channel(&self, cid: u64) -> Result<()> {
        self.channel(cid).map(|_| ())
    }

    /// Checks that `GET /channels/{cid}/connect` may be upgraded.
    pub fn check_channel_connect(&self, cid: u64) -> Result<()> {
        let channel = self.channel(cid)?;
        if channel.control.get().is_some() {
            return Err(Error::BadRequest(format!(
                "channel `{cid}` is already connected"
            )));
        }
        Ok(())
    }

    /// Serves the control websocket of channel `cid` until it closes, then ends
    /// every tunnel of the channel and forgets it.
    pub async fn serve_channel(self: &Arc<Self>, cid: u64, ws: WebSocket) {
        let Ok(entry) = self.channel(cid) else {
            return;
        };
        let (control, receiver) = Channel::new(cid, ws);
        if entry.control.set(Arc::clone(&control)).is_err() {
            log::warn!("channel {cid} connected twice; closing the second websocket");
            return;
        }
        entry.connected.fire();
        log::debug!(
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
        self.channels_map().remove(&cid);
        let ends = entry.stop_tunnels();
        for end in ends {
            end.wait_stopped().await;
        }
        log::debug!("channel {cid} ended");
    }

    /// `POST /channels/{cid}/tunnels`.
    pub async fn create_tunnel(
        self: &Arc<Self>,
        cid: u64,
        request: CreateTunnel,
    ) -> Result<TunnelCreated> {
        let entry = self.channel(cid)?;
        match request {
            CreateTunnel::Forward {
                exit_address,
                exit_port,
                ..
            } => {
                self.store
                    .allowed_destinations()
                    .check(&exit_address, exit_port)?;
                let tunnel_id = entry.next_tunnel.fetch_add(1, Ordering::Relaxed);
                log::info!("channel {cid}: tunnel {tunnel_id} to {exit_address}:{exit_port}");
                let reuse = crate::wire::is_ours(&entry.client_version);
                let exit = Exit::new(Arc::clone(&self.rt), exit_address, exit_port, None, reuse);
                entry.tunnels().insert(tunnel_id, TunnelEnd::Exit(exit));
                Ok(TunnelCreated {
                    tunnel_id,
                    entrance_port: None,
                })
            }
            CreateTunnel::Reverse {
                entrance_address,
                entrance_port,
                ..
            } => {
                if let Some(allowed) = self.store.allowed_entrances() {
                    allowed.check_as(&entrance_address, entrance_port.unwrap_or(0), "entrance")?;
                }
                let control = self.connected_control(&entry).await?;
                let listener = self
                    .rt
                    .listen(entrance_address.clone(), entrance_port.unwrap_or(0))
                    .await
                    .map_err(|err| {
                        Error::BadRequest(format!(
                            "cannot listen on {entrance_address}:{}: {err}",
                            entrance_port.unwrap_or(0)
                        ))
                    })?;
                let tunnel_id = entry.next_tunnel.fetch_add(1, Ordering::Relaxed);
                let source = Arc::new(AskClient {
                    channel: Arc::downgrade(&control),
                    tunnel_id,
                });
                let reuse = crate::wire::is_ours(&entry.client_version);
                let entrance =
                    Entrance::start(Arc::clone(&self.rt), listener, source, None, reuse)?;
                let port = entrance.local_addr().port();
                log::info!(
                    "channel {cid}: reverse tunnel {tunnel_id} listening on {}",
                    entrance.local_addr()
                );
                entry
                    .tunnels()
                    .insert(tunnel_id, TunnelEnd::Entrance(entrance));
                Ok(TunnelCreated {
                    tunnel_id,
                    entrance_port: Some(port),
                })
            }
        }
    }

    /// The channel's control websocket. A client may send its next request as
    /// soon as it saw the `101` of its channel websocket, before our side of the
    /// upgrade has finished: wait a little for it rather than fail.
    async fn connected_control(&self, entry: &ServerChannel) -> Result<Arc<Channel>> {
        if entry.control.get().is_none() {
            crate::runtime::timeout(&*self.rt, CONNECT_GRACE, entry.connected.wait()).await;
        }
        entry
            .control
            .get()
            .cloned()
            .ok_or_else(|| Error::BadRequest(format!("channel `{}` is not connected", entry.id)))
    }

    /// Checks that `GET /channels/{cid}/tunnels/{tid}/connect` may be upgraded.
    pub async fn check_tunnel_connect(&self, cid: u64, tid: u64) -> Result<()> {
        let entry = self.channel(cid)?;
        self.connected_control(&entry).await?;
        if !entry.tunnels().contains_key(&tid) {
            return Err(Error::NotFound(format!(
                "tunnel `{tid}` does not exist on channel `{cid}`"
            )));
        }
        Ok(())
    }

    /// Hands one upgraded tunnel websocket to its tunnel.
    pub fn tunnel_websocket(&self, cid: u64, tid: u64, ws: WebSocket) {
        let end = self
            .channel(cid)
            .ok()
            .and_then(|entry| entry.tunnels().get(&tid).cloned());
        match end {
            Some(TunnelEnd::Exit(exit)) => exit.serve(ws),
            Some(TunnelEnd::Entrance(entrance)) => entrance.add_spare(ws),
            None => log::debug!("websocket for unknown tunnel {cid}/{tid} dropped"),
        }
    }

    /// `DELETE /channels/{cid}/tunnels/{tid}`: stop our side of a tunnel. With
    /// `force` its open connections are closed at once; without, the tunnel
    /// takes no new connection and this returns once the open ones have ended,
    /// however long that takes (as NETunnel 1.0.x does).
    pub async fn delete_tunnel(&self, cid: u64, tid: u64, force: bool) -> Result<()> {
        let entry = self.channel(cid)?;
        let end = entry
            .tunnels()
            .remove(&tid)
            .ok_or_else(|| Error::NotFound(format!("tunnel_id `{tid}` does not exists")))?;
        if force {
            end.stop();
            crate::runtime::timeout(&*self.rt, Duration::from_secs(5), end.wait_stopped()).await;
        } else {
            end.drain();
            log::info!("channel {cid}: tunnel {tid} draining: waiting for its open connections");
            end.wait_stopped().await;
        }
        log::info!("channel {cid}: tunnel {tid} deleted");
        Ok(())
    }

    /// Stops tunnel `tid` of channel `cid` from the server's side and tells the
    /// client to stop its side too.
    pub async fn stop_tunnel(&self, cid: u64, tid: u64) -> Result<()> {
        let entry = self.channel(cid)?;
        let end = entry
            .tunnels()
            .remove(&tid)
            .ok_or_else(|| Error::NotFound(format!("tunnel `{tid}` does not exist")))?;
        end.stop();
        if let Some(control) = entry.control.get() {
            let ask = control.request(ControlMessage::DeleteTunnel {
                tunnel_id: tid,
                force: true,
            });
            match crate::runtime::timeout(&*self.rt, Duration::from_secs(5), ask).await {
                Some(Ok(_)) => {}
                Some(Err(err)) => log::warn!("client could not delete tunnel {tid}: {err}"),
                None => log::warn!("client did not answer the deletion of tunnel {tid}"),
            }
        }
        end.wait_stopped().await;
        Ok(())
    }

    /// Closes channel `cid` (the client sees its channel end) and its tunnels.
    pub fn close_channel(&self, cid: u64) -> Result<()> {
        let entry = self.channel(cid)?;
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

    /// Closes every channel.
    pub fn close_all(&self) {
        let ids: Vec<u64> = self.channels_map().keys().copied().collect();
        for id in ids {
            let _ = self.close_channel(id);
        }
    }
}
