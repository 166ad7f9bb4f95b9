//! The client's state machine: one control channel to a server and the tunnels
//! opened over it. Reaches the server through a [`Transport`].

mod peers;
mod tunnel;

pub use tunnel::{Tunnel, TunnelInfo};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::channel::{Channel, MessageHandler};
use crate::error::{Error, Result};
use crate::runtime::RuntimeRef;
use crate::server::TunnelEnd;
use crate::sync::TaskTracker;
use crate::transport::{Method, Transport};
use crate::tunnel::{spawn_tracked, Entrance, Exit, SpareSettings, SpareSource};
use crate::wire::{
    ChannelCreated, ControlMessage, CreateChannel, CreateTunnel, DeleteTunnel, TunnelCreated,
};
use crate::ws::{Heartbeat, WebSocket};

/// Bound on opening a forward tunnel's first spare websocket.
const FIRST_SPARE_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Keep-alive of every websocket the client opens (`None`: no pings).
    pub heartbeat: Option<Heartbeat>,
    /// Bound on waiting for the server when deleting a tunnel.
    pub delete_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            heartbeat: Some(Heartbeat::default()),
            delete_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) struct ClientInner {
    rt: RuntimeRef,
    transport: Arc<dyn Transport>,
    settings: ClientSettings,
    control: Arc<Channel>,
    server_version: String,
    tunnels: Mutex<HashMap<u64, Arc<tunnel::TunnelState>>>,
    reverse_setup: futures::lock::Mutex<()>,
    tasks: TaskTracker,
}

impl ClientInner {
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
    async fn stop_local(&self, tid: u64) -> Option<Arc<tunnel::TunnelState>> {
        let state = self.tunnels().remove(&tid)?;
        self.finish_local(&state, true).await;
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
    async fn delete(&self, tid: u64, force: bool) -> Result<()> {
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
        // The last handle is gone: nobody can use the channel any more.
        self.control.close();
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
                            Ok(ws) => exit.serve(ws),
                            Err(err) => log::warn!(
                                "cannot open a websocket for reverse tunnel {tunnel_id}: {err}"
                            ),
                        }
                    });
                    Ok(())
                }
                ControlMessage::DeleteTunnel { tunnel_id, force } => {
                    log::info!("the server closed tunnel {tunnel_id}");
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
        Box::pin(async move { transport.websocket(path).await.map(Some) })
    }
}

/// A connected NETunnel client. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.transport.describe())
            .field("channel", &self.inner.control.id())
            .finish()
    }
}

impl Client {
    /// Creates a channel on the server and connects its control websocket.
    pub async fn connect(
        rt: RuntimeRef,
        transport: Arc<dyn Transport>,
        settings: ClientSettings,
    ) -> Result<Client> {
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
            .await?;
        let (control, receiver) = Channel::new(created.channel_id, ws);
        let inner = Arc::new(ClientInner {
            rt: Arc::clone(&rt),
            transport,
            settings,
            control: Arc::clone(&control),
            server_version: created.version,
            tunnels: Mutex::new(HashMap::new()),
            reverse_setup: futures::lock::Mutex::new(()),
            tasks: TaskTracker::new(),
        });
        let handler = Arc::new(ServerRequests(Arc::downgrade(&inner)));
        let weak = Arc::downgrade(&inner);
        let heartbeat = inner.settings.heartbeat;
        let spawner = Arc::clone(&rt);
        spawner.spawn(Box::pin(async move {
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
        log::debug!(
            "connected to {} (channel {}, server version {})",
            inner.transport.describe(),
            inner.control.id(),
            inner.server_version
        );
        Ok(Client { inner })
    }

    /// The server's reported version.
    pub fn server_version(&self) -> &str {
        &self.inner.server_version
    }

    /// The id of this client's channel on the server.
    pub fn channel_id(&self) -> u64 {
        self.inner.control.id()
    }

    /// Whether the control channel is still up.
    pub fn is_connected(&self) -> bool {
        !self.inner.control.is_closed()
    }

    /// Completes when the control channel ends (server gone, channel closed).
    pub fn disconnected(&self) -> impl std::future::Future<Output = ()> + Send + Unpin + 'static {
        self.inner.control.closed()
    }

    /// `GET /version` of the server.
    pub async fn remote_version(&self) -> Result<String> {
        let reply = self
            .inner
            .transport
            .request(Method::Get, "/version".into(), None)
            .await?;
        if reply.status >= 400 {
            return Err(reply.json().err().unwrap_or_else(|| Error::Remote {
                status: Some(reply.status),
                message: format!("server answered HTTP {}", reply.status),
            }));
        }
        Ok(String::from_utf8_lossy(&reply.body).trim().to_string())
    }

    fn ensure_connected(&self) -> Result<()> {
        if self.inner.control.is_closed() {
            return Err(Error::ChannelClosed);
        }
        Ok(())
    }

    async fn post_tunnel(&self, request: CreateTunnel) -> Result<TunnelCreated> {
        let body = serde_json::to_value(request).map_err(|err| Error::Protocol(err.to_string()))?;
        self.inner
            .transport
            .request(
                Method::Post,
                format!("/channels/{}/tunnels", self.channel_id()),
                Some(body),
            )
            .await?
            .parse()
    }

    /// Opens a client-to-server tunnel: listens on `local_address:local_port`
    /// (port `None` or 0: any free port) and carries each connection to
    /// `remote_address:remote_port` as seen from the server. Returns once the
    /// first spare websocket is ready.
    pub async fn open_tunnel_to_server(
        &self,
        local_address: &str,
        local_port: Option<u16>,
        remote_address: &str,
        remote_port: u16,
    ) -> Result<Tunnel> {
        self.ensure_connected()?;
        let inner = &self.inner;
        let listener = inner
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
        let source = Arc::new(OpenWebsocket {
            transport: Arc::clone(&inner.transport),
            path: format!("{}/connect", inner.tunnel_path(tid)),
        });
        let entrance = Entrance::start(
            Arc::clone(&inner.rt),
            listener,
            source,
            SpareSettings::new(inner.settings.heartbeat),
            inner.reuse_websockets(),
        )?;
        let info = TunnelInfo {
            id: tid,
            reverse: false,
            entrance: (local_address.to_string(), entrance.local_addr().port()),
            exit: (remote_address.to_string(), remote_port),
        };
        let state = tunnel::TunnelState::new(info, TunnelEnd::Entrance(Arc::clone(&entrance)));
        inner.tunnels().insert(tid, Arc::clone(&state));
        let first_spare = std::pin::pin!(entrance.wait_ready());
        let ready = futures::future::select(first_spare, inner.control.closed());
        let failure = match crate::runtime::timeout(&*inner.rt, FIRST_SPARE_TIMEOUT, ready).await {
            Some(futures::future::Either::Left(_)) => None,
            Some(futures::future::Either::Right(_)) => Some(Error::ChannelClosed),
            None => Some(Error::Timeout(
                "waiting for the server to accept the tunnel's first websocket".into(),
            )),
        };
        if let Some(err) = failure {
            let _ = inner.delete(tid, true).await;
            return Err(err);
        }
        Ok(Tunnel::new(state, Arc::downgrade(inner)))
    }

    /// Opens a server-to-client tunnel: the server listens on
    /// `remote_address:remote_port` (`None`: a free port it picks) and each
    /// connection is carried to `local_address:local_port` here.
    pub async fn open_tunnel_to_client(
        &self,
        local_address: &str,
        local_port: u16,
        remote_address: &str,
        remote_port: Option<u16>,
    ) -> Result<Tunnel> {
        self.ensure_connected()?;
        let inner = &self.inner;
        let _setup = inner.reverse_setup.lock().await;
        let created = self
            .post_tunnel(CreateTunnel::Reverse {
                entrance_address: remote_address.to_string(),
                entrance_port: remote_port,
                reverse: true,
            })
            .await?;
        let tid = created.tunnel_id;
        let exit = Exit::new(
            Arc::clone(&inner.rt),
            local_address.to_string(),
            local_port,
            inner.settings.heartbeat,
            inner.reuse_websockets(),
        );
        let port = created.entrance_port.or(remote_port).unwrap_or(0);
        let info = TunnelInfo {
            id: tid,
            reverse: true,
            entrance: (remote_address.to_string(), port),
            exit: (local_address.to_string(), local_port),
        };
        let state = tunnel::TunnelState::new(info, TunnelEnd::Exit(exit));
        inner.tunnels().insert(tid, Arc::clone(&state));
        Ok(Tunnel::new(state, Arc::downgrade(inner)))
    }

    /// Stops tunnel `tid` here and deletes it on the server; its open
    /// connections close at once.
    pub async fn delete_tunnel(&self, tid: u64) -> Result<()> {
        self.inner.delete(tid, true).await
    }

    /// Deletes tunnel `tid` without cutting its open connections: the tunnel
    /// takes no new connection, and this returns once the open ones have ended
    /// (however long they last) and the server deleted its side.
    pub async fn drain_tunnel(&self, tid: u64) -> Result<()> {
        self.inner.delete(tid, false).await
    }

    /// The open tunnels.
    pub fn tunnels(&self) -> Vec<TunnelInfo> {
        let mut list: Vec<TunnelInfo> = self
            .inner
            .tunnels()
            .values()
            .map(|state| state.info.clone())
            .collect();
        list.sort_by_key(|info| info.id);
        list
    }

    /// Closes every tunnel (deleting each on the server, bounded in time), then
    /// the control channel.
    pub async fn close(&self) {
        let ids: Vec<u64> = self.inner.tunnels().keys().copied().collect();
        let deletions = ids.into_iter().map(|id| self.inner.delete(id, true));
        for result in futures::future::join_all(deletions).await {
            if let Err(err) = result {
                log::warn!("while closing: {err}");
            }
        }
        self.inner.control.close();
        let tasks = self.inner.tasks.wait();
        crate::runtime::timeout(&*self.inner.rt, Duration::from_secs(5), tasks).await;
    }
}
