//! One connection of a [`super::Client`] to its server: the channel, the
//! tunnels opened over it, and the server's requests on it. A client holds
//! one session at a time and a new one after each reconnect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures::future::BoxFuture;

use super::tunnel::{self, Tunnel, TunnelInfo};
use super::ClientSettings;
use crate::channel::{Channel, MessageHandler};
use crate::error::{Error, Result};
use crate::instance::{record, Instance, TARGET_CLIENT};
use crate::metrics::{socket_text, EndKind, OpenTunnel, Totals, TunnelLabel, TunnelStats};
use crate::runtime::RuntimeRef;
use crate::sync::TaskTracker;
use crate::transport::{Method, Transport};
use crate::tunnel::TunnelEnd;
use crate::tunnel::{spawn_tracked, Entrance, Exit, SpareSettings, SpareSource};
use crate::wire::{
    ChannelCreated, ControlMessage, CreateChannel, CreateTunnel, DeleteTunnel, TunnelCreated,
};
use crate::ws::WebSocket;

/// Bound on opening a forward tunnel's first spare websocket.
const FIRST_SPARE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct ClientInner {
    /// The client's, for the records of the work its tunnels do.
    pub(super) instance: Instance,
    rt: RuntimeRef,
    pub(super) transport: Arc<dyn Transport>,
    settings: ClientSettings,
    control: Arc<Channel>,
    server_version: String,
    tunnels: Mutex<HashMap<u64, Arc<tunnel::TunnelState>>>,
    reverse_setup: futures::lock::Mutex<()>,
    tasks: TaskTracker,
    /// The client's, which every tunnel of every session counts into.
    totals: Arc<Totals>,
}

impl ClientInner {
    /// Creates a channel on the server and connects its control websocket.
    pub(super) async fn open(
        instance: Instance,
        rt: RuntimeRef,
        transport: Arc<dyn Transport>,
        settings: ClientSettings,
        totals: Arc<Totals>,
    ) -> Result<Arc<ClientInner>> {
        let body = serde_json::to_value(CreateChannel {
            version: crate::VERSION.to_string(),
        })
        .map_err(|err| Error::Protocol(err.to_string()))?;
        let created: ChannelCreated = transport
            .request(Method::Post, "/channels".into(), Some(body))
            .await?
            .parse()?;
        let ws = transport
            .websocket(format!("/channels/{}/connect", created.channel_id))
            .await?
            .into_client()
            .await;
        let (control, receiver) = Channel::new(created.channel_id, ws);
        let inner = Arc::new(ClientInner {
            instance,
            rt: Arc::clone(&rt),
            transport,
            settings,
            control: Arc::clone(&control),
            server_version: created.version,
            tunnels: Mutex::new(HashMap::new()),
            reverse_setup: futures::lock::Mutex::new(()),
            tasks: TaskTracker::new(),
            totals,
        });
        inner.totals.channel_opened();
        let handler = Arc::new(ServerRequests(Arc::downgrade(&inner)));
        let weak = Arc::downgrade(&inner);
        let heartbeat = inner.settings.heartbeat;
        let spawner = Arc::clone(&rt);
        spawner.spawn(crate::instance::inherit(async move {
            control
                .serve(Arc::clone(&rt), receiver, handler, heartbeat)
                .await;
            if let Some(inner) = weak.upgrade() {
                let ids: Vec<u64> = inner.tunnels().keys().copied().collect();
                for id in ids {
                    inner.stop_local(id).await;
                }
            }
        }));
        record!(
            debug,
            TARGET_CLIENT,
            "connected to {} (channel {}, server version {})",
            inner.transport.describe(),
            inner.control.id(),
            inner.server_version
        );
        Ok(inner)
    }

    pub(super) fn server_version(&self) -> &str {
        &self.server_version
    }

    pub(super) fn channel_id(&self) -> u64 {
        self.control.id()
    }

    pub(super) fn is_connected(&self) -> bool {
        !self.control.is_closed()
    }

    pub(super) fn disconnected(
        &self,
    ) -> impl std::future::Future<Output = ()> + Send + Unpin + 'static {
        self.control.closed()
    }

    /// Each open tunnel's counters.
    pub(super) fn tunnel_metrics(&self) -> Vec<OpenTunnel> {
        let channel = self.control.id();
        self.tunnels()
            .iter()
            .map(|(id, state)| (channel, *id, Arc::clone(state.end.stats())))
            .collect()
    }

    pub(super) fn tunnel_infos(&self) -> Vec<TunnelInfo> {
        let mut list: Vec<TunnelInfo> = self
            .tunnels()
            .values()
            .map(|state| state.info.clone())
            .collect();
        list.sort_by_key(|info| info.id);
        list
    }

    fn ensure_connected(&self) -> Result<()> {
        if self.control.is_closed() {
            return Err(Error::ChannelClosed);
        }
        Ok(())
    }

    /// `GET /version` of the server.
    pub(super) async fn remote_version(&self) -> Result<String> {
        let reply = self
            .transport
            .request(Method::Get, "/version".into(), None)
            .await?;
        if reply.status >= 400 {
            return Err(reply.json().err().unwrap_or_else(|| Error::Remote {
                status: Some(reply.status),
                message: format!("server answered HTTP {}", reply.status),
                kind: None,
            }));
        }
        Ok(String::from_utf8_lossy(&reply.body).trim().to_string())
    }

    /// `POST`s a new tunnel from a task of its own, so that a caller who stops
    /// waiting (drops the open) before the answer leaves nothing behind: the
    /// task deletes on the server the tunnel nobody will hear of.
    async fn post_tunnel(self: &Arc<Self>, request: CreateTunnel) -> Result<TunnelCreated> {
        let body = serde_json::to_value(request).map_err(|err| Error::Protocol(err.to_string()))?;
        let (answer, answered) = futures::channel::oneshot::channel();
        let inner = Arc::clone(self);
        spawn_tracked(&*self.rt, &self.tasks, async move {
            let created = async {
                inner
                    .transport
                    .request(
                        Method::Post,
                        format!("/channels/{}/tunnels", inner.control.id()),
                        Some(body),
                    )
                    .await?
                    .parse::<TunnelCreated>()
            }
            .await;
            if let Err(Ok(created)) = answer.send(created) {
                let tid = created.tunnel_id;
                record!(
                    debug,
                    TARGET_CLIENT,
                    "opening tunnel {tid} was abandoned before the server answered; deleting it"
                );
                if let Err(err) = inner.delete_on_server(tid, true).await {
                    record!(
                        debug,
                        TARGET_CLIENT,
                        "deleting the abandoned tunnel {tid}: {err}"
                    );
                }
            }
        });
        answered.await.unwrap_or(Err(Error::ChannelClosed))
    }

    /// Opens a client-to-server tunnel: listens on `local_address:local_port`
    /// (port `None` or 0: any free port) and carries each connection to
    /// `remote_address:remote_port` as seen from the server. Returns once the
    /// first spare websocket is ready.
    pub(super) async fn open_tunnel_to_server(
        self: &Arc<Self>,
        local_address: &str,
        local_port: Option<u16>,
        remote_address: &str,
        remote_port: u16,
    ) -> Result<Tunnel> {
        self.ensure_connected()?;
        let listener = self
            .rt
            .listen(local_address.to_string(), local_port.unwrap_or(0))
            .await
            .map_err(|err| {
                Error::io(
                    format!(
                        "cannot listen on {local_address}:{}",
                        local_port.unwrap_or(0)
                    ),
                    err,
                )
            })?;
        let created = self
            .post_tunnel(CreateTunnel::Forward {
                exit_address: remote_address.to_string(),
                exit_port: remote_port,
                reverse: false,
            })
            .await?;
        let tid = created.tunnel_id;
        let abandoned = Abandoned::new(self, tid);
        let source = Arc::new(OpenWebsocket {
            transport: Arc::clone(&self.transport),
            path: format!("{}/connect", self.tunnel_path(tid)),
        });
        let label = TunnelLabel::listening(
            false,
            listener.local_addr().ok(),
            socket_text(remote_address, remote_port),
        );
        let entrance = Entrance::start(
            Arc::clone(&self.rt),
            listener,
            source,
            SpareSettings::new(self.settings.heartbeat),
            self.reuse_websockets(),
            TunnelStats::new(&self.totals, EndKind::Entrance, label),
        )?;
        let info = TunnelInfo {
            id: tid,
            reverse: false,
            entrance: (local_address.to_string(), entrance.local_addr().port()),
            exit: (remote_address.to_string(), remote_port),
        };
        let state = tunnel::TunnelState::new(info, TunnelEnd::Entrance(Arc::clone(&entrance)));
        self.register(tid, &state).await?;
        let first_spare = std::pin::pin!(entrance.wait_ready());
        let ready = futures::future::select(first_spare, self.control.closed());
        let failure = match crate::runtime::timeout(&*self.rt, FIRST_SPARE_TIMEOUT, ready).await {
            Some(futures::future::Either::Left(_)) => None,
            Some(futures::future::Either::Right(_)) => Some(Error::ChannelClosed),
            None => Some(Error::Timeout(
                "waiting for the server to accept the tunnel's first websocket".into(),
            )),
        };
        if let Some(err) = failure {
            // Still armed: if this delete is cancelled, the guard deletes.
            let _ = self.delete(tid, true).await;
            abandoned.disarm();
            return Err(err);
        }
        abandoned.disarm();
        self.totals.tunnel_opened();
        Ok(Tunnel::new(state, Arc::downgrade(self)))
    }

    /// Opens a server-to-client tunnel: the server listens on
    /// `remote_address:remote_port` (`None`: a free port it picks) and each
    /// connection is carried to `local_address:local_port` here.
    pub(super) async fn open_tunnel_to_client(
        self: &Arc<Self>,
        local_address: &str,
        local_port: u16,
        remote_address: &str,
        remote_port: Option<u16>,
    ) -> Result<Tunnel> {
        self.ensure_connected()?;
        let _setup = self.reverse_setup.lock().await;
        let created = self
            .post_tunnel(CreateTunnel::Reverse {
                entrance_address: remote_address.to_string(),
                entrance_port: remote_port,
                reverse: true,
            })
            .await?;
        let tid = created.tunnel_id;
        let abandoned = Abandoned::new(self, tid);
        let port = created.entrance_port.or(remote_port).unwrap_or(0);
        let info = TunnelInfo {
            id: tid,
            reverse: true,
            entrance: (remote_address.to_string(), port),
            exit: (local_address.to_string(), local_port),
        };
        let label = TunnelLabel {
            reverse: true,
            entrance: info.entrance_text(),
            exit: info.exit_text(),
        };
        let exit = Exit::new(
            Arc::clone(&self.rt),
            local_address.to_string(),
            local_port,
            self.settings.heartbeat,
            self.reuse_websockets(),
            TunnelStats::new(&self.totals, EndKind::Exit, label),
        );
        let state = tunnel::TunnelState::new(info, TunnelEnd::Exit(exit));
        self.register(tid, &state).await?;
        abandoned.disarm();
        self.totals.tunnel_opened();
        Ok(Tunnel::new(state, Arc::downgrade(self)))
    }

    /// Closes every tunnel (deleting each on the server, bounded in time), then
    /// the control channel.
    pub(super) async fn close(&self) {
        let ids: Vec<u64> = self.tunnels().keys().copied().collect();
        let deletions = ids.into_iter().map(|id| self.delete(id, true));
        for result in futures::future::join_all(deletions).await {
            if let Err(err) = result {
                record!(warn, TARGET_CLIENT, "while closing: {err}");
            }
        }
        self.control.close();
        let tasks = self.tasks.wait();
        crate::runtime::timeout(&*self.rt, Duration::from_secs(5), tasks).await;
    }
    /// Adds a tunnel to the client's. When the channel closed meanwhile (the
    /// client closing, the server gone), its clean-up may have run already:
    /// the tunnel is stopped here instead of outliving its channel.
    async fn register(&self, tid: u64, state: &Arc<tunnel::TunnelState>) -> Result<()> {
        self.tunnels().insert(tid, Arc::clone(state));
        if self.control.is_closed() {
            self.stop_local(tid).await;
            return Err(Error::ChannelClosed);
        }
        Ok(())
    }

    fn tunnels(&self) -> MutexGuard<'_, HashMap<u64, Arc<tunnel::TunnelState>>> {
        self.tunnels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether tunnel websockets carry one connection after another: only
    /// when the server is ours (an extension NETunnel 1.0.x does not know).
    fn reuse_websockets(&self) -> bool {
        crate::wire::is_ours(&self.server_version)
    }

    fn tunnel_path(&self, tid: u64) -> String {
        format!("/channels/{}/tunnels/{tid}", self.control.id())
    }

    /// Stops a tunnel locally (no message to the server).
    pub(super) async fn stop_local(&self, tid: u64) -> Option<Arc<tunnel::TunnelState>> {
        self.end_local(tid, true).await
    }

    /// Ends tunnel `tid` here only: with `force` its connections close at
    /// once, without they finish first. `None` when it is not open.
    pub(super) async fn end_local(
        &self,
        tid: u64,
        force: bool,
    ) -> Option<Arc<tunnel::TunnelState>> {
        let state = self.tunnels().remove(&tid)?;
        self.finish_local(&state, force).await;
        Some(state)
    }

    /// Ends a tunnel's end here (see [`TunnelEnd::finish`]), then marks it stopped.
    async fn finish_local(&self, state: &tunnel::TunnelState, force: bool) {
        state.end.finish(&*self.rt, force).await;
        // Fired last, so whoever waits on it finds the entrance already closed.
        state.stopped.fire();
    }

    /// Deletes tunnel `tid` here and on the server. With `force` its
    /// connections close at once; without, the side holding the entrance
    /// drains first (here for a forward tunnel, on the server for a reverse
    /// one), so connections already open finish, then the other side.
    pub(super) async fn delete(&self, tid: u64, force: bool) -> Result<()> {
        let not_open = || Error::NotFound(format!("tunnel `{tid}` is not open"));
        if force {
            self.stop_local(tid).await.ok_or_else(not_open)?;
            return self.delete_on_server(tid, true).await;
        }
        let state = self.tunnels().remove(&tid).ok_or_else(not_open)?;
        if state.info.reverse {
            let deleted = self.delete_on_server(tid, false).await;
            self.finish_local(&state, false).await;
            deleted
        } else {
            self.finish_local(&state, false).await;
            self.delete_on_server(tid, false).await
        }
    }

    /// `DELETE`s tunnel `tid` on the server: bounded by the settings' delete
    /// timeout with `force`; without, the server answers once the tunnel's
    /// open connections ended, however long they last.
    async fn delete_on_server(&self, tid: u64, force: bool) -> Result<()> {
        if self.control.is_closed() {
            return Ok(());
        }
        let request = self.transport.request(
            Method::Delete,
            self.tunnel_path(tid),
            serde_json::to_value(DeleteTunnel { force }).ok(),
        );
        if !force {
            return request.await?.json().map(|_| ());
        }
        match crate::runtime::timeout(&*self.rt, self.settings.delete_timeout, request).await {
            Some(reply) => reply?.json().map(|_| ()),
            None => Err(Error::Timeout(format!(
                "deleting tunnel {tid} on the server"
            ))),
        }
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        // The last handle is gone: nobody can use the channel any more, nor
        // stop the tunnel ends, whose tasks keep themselves alive: stop them.
        self.control.close();
        let states: Vec<_> = self.tunnels().drain().map(|(_, state)| state).collect();
        for state in states {
            state.end.stop();
            state.stopped.fire();
        }
    }
}

/// Deletes a tunnel, here and on the server, whose opening was abandoned
/// (its future dropped) after the server had created it.
struct Abandoned {
    inner: Option<Weak<ClientInner>>,
    tid: u64,
}

impl Abandoned {
    fn new(inner: &Arc<ClientInner>, tid: u64) -> Abandoned {
        Abandoned {
            inner: Some(Arc::downgrade(inner)),
            tid,
        }
    }

    /// The opening reached its end: whatever happens now is its own.
    fn disarm(mut self) {
        self.inner = None;
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take().and_then(|weak| weak.upgrade()) else {
            return;
        };
        let tid = self.tid;
        let instance = inner.instance;
        // Dropped wherever the caller dropped the open: name the client.
        let rt = Arc::clone(&inner.rt);
        rt.spawn(Box::pin(instance.scope(async move {
            record!(
                debug,
                TARGET_CLIENT,
                "opening tunnel {tid} was abandoned; deleting it"
            );
            inner.stop_local(tid).await;
            if let Err(err) = inner.delete_on_server(tid, true).await {
                record!(
                    debug,
                    TARGET_CLIENT,
                    "deleting the abandoned tunnel {tid}: {err}"
                );
            }
        })));
    }
}

/// Handles the server's requests on the control channel.
struct ServerRequests(Weak<ClientInner>);

impl MessageHandler for ServerRequests {
    fn handle(&self, message: ControlMessage) -> BoxFuture<'static, Result<(), String>> {
        let inner = self.0.upgrade();
        Box::pin(async move {
            let inner = inner.ok_or_else(|| "the client is closing".to_string())?;
            match message {
                ControlMessage::NewConnection { tunnel_id } => {
                    let mut exit = reverse_exit(&inner, tunnel_id);
                    if exit.is_none() {
                        // The server may ask before our POST's answer arrived: wait
                        // for the tunnel being set up to be registered.
                        let _setup = inner.reverse_setup.lock().await;
                        exit = reverse_exit(&inner, tunnel_id);
                    }
                    let exit = exit.ok_or_else(|| {
                        format!("tunnel_id `{tunnel_id}` is not registered on this client")
                    })?;
                    let path = format!("{}/connect", inner.tunnel_path(tunnel_id));
                    let transport = Arc::clone(&inner.transport);
                    spawn_tracked(&*inner.rt, &inner.tasks, async move {
                        match transport.websocket(path).await {
                            Ok(upgraded) => exit.serve(upgraded.into_client().await),
                            Err(err) => record!(
                                warn,
                                TARGET_CLIENT,
                                "cannot open a websocket for reverse tunnel {tunnel_id}: {err}"
                            ),
                        }
                    });
                    Ok(())
                }
                ControlMessage::DeleteTunnel { tunnel_id, force } => {
                    record!(info, TARGET_CLIENT, "the server closed tunnel {tunnel_id}");
                    // Without force, as 1.0.x does: answer once the open
                    // connections ended.
                    let state = inner.tunnels().remove(&tunnel_id);
                    if let Some(state) = state {
                        inner.finish_local(&state, force).await;
                    }
                    Ok(())
                }
                ControlMessage::Unknown(name) => Err(format!("Unknown message_type {name}")),
            }
        })
    }
}

fn reverse_exit(inner: &ClientInner, tid: u64) -> Option<Arc<Exit>> {
    match inner.tunnels().get(&tid).map(|state| &state.end) {
        Some(TunnelEnd::Exit(exit)) => Some(Arc::clone(exit)),
        _ => None,
    }
}

/// Opens spare websockets for a forward tunnel.
struct OpenWebsocket {
    transport: Arc<dyn Transport>,
    path: String,
}

impl SpareSource for OpenWebsocket {
    fn open(&self) -> BoxFuture<'static, Result<Option<WebSocket>>> {
        let transport = Arc::clone(&self.transport);
        let path = self.path.clone();
        Box::pin(async move { Ok(Some(transport.websocket(path).await?.into_client().await)) })
    }
}
