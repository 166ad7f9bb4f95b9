//! Peers (other NETunnel servers) and their static tunnels: the REST rules,
//! persistence in the config file, and the runners that keep tunnels up.

mod link;
mod static_tunnel;

pub use link::{connect, verify, Connector, PeerLink, Timing};
pub use static_tunnel::Runner;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::channel::oneshot;
use serde_json::Value;

use crate::auth::ServerAuth;
use crate::config::{ConfigStore, MASK};
use crate::error::{Error, Result};
use crate::instance::{record, TARGET_PEER};
use crate::runtime::RuntimeRef;
use crate::secret::SecretKey;
use crate::wire::{NewPeer, NewStaticTunnel, Peer, PeerChanges, StaticTunnel};

type RunnerKey = (u64, u64);

/// The peers of one server.
pub struct PeerManager {
    rt: RuntimeRef,
    auth: Arc<dyn ServerAuth>,
    store: Arc<ConfigStore>,
    connector: Arc<dyn Connector>,
    ops: futures::lock::Mutex<()>,
    runners: Mutex<HashMap<RunnerKey, Arc<Runner>>>,
    /// Set by [`PeerManager::close`]: no static tunnel starts any more.
    closed: AtomicBool,
    /// Held while peers are written; [`PeerManager::close`] takes it after
    /// setting `closed`, so no write lands after it returns.
    saving: futures::lock::Mutex<()>,
}

impl std::fmt::Debug for PeerManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerManager").finish_non_exhaustive()
    }
}

fn not_found_peer(pid: u64) -> Error {
    Error::NotFound(format!("Peer `{pid}` was not found"))
}

/// What the API shows of a peer: `auth_data` values masked.
fn masked(mut peer: Peer) -> Peer {
    for value in peer.auth_data.values_mut() {
        *value = MASK.to_string();
    }
    peer
}

impl PeerManager {
    /// A manager for the peers stored in `store`. Call [`PeerManager::restore`]
    /// to start their static tunnels.
    pub fn new(
        rt: RuntimeRef,
        store: Arc<ConfigStore>,
        connector: Arc<dyn Connector>,
        auth: Arc<dyn ServerAuth>,
    ) -> PeerManager {
        PeerManager {
            rt,
            auth,
            store,
            connector,
            ops: futures::lock::Mutex::new(()),
            runners: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            saving: futures::lock::Mutex::new(()),
        }
    }

    fn runners(&self) -> MutexGuard<'_, HashMap<RunnerKey, Arc<Runner>>> {
        self.runners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The peers as stored (auth data encrypted).
    fn stored(&self) -> Vec<Peer> {
        self.store
            .get("peers")
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default()
    }

    /// Writes `peers`, unless [`PeerManager::close`] ran (a change that was
    /// still checking its peer when the server stopped is refused, not kept).
    async fn save(&self, peers: &[Peer]) -> Result<()> {
        let _saving = self.saving.lock().await;
        self.ensure_open()?;
        let value = serde_json::to_value(peers).map_err(|err| Error::Config(err.to_string()))?;
        self.store
            .update_unblocked(&*self.rt, |values, _| {
                values.insert("peers".into(), value);
            })
            .await
            .map_err(Error::from)
    }

    fn find(peers: &[Peer], pid: u64) -> Result<usize> {
        peers
            .iter()
            .position(|p| p.id == pid)
            .ok_or_else(|| not_found_peer(pid))
    }

    fn seal(&self, auth_data: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        auth_data
            .iter()
            .map(|(key, value)| Ok((key.clone(), self.store.encrypt(value)?)))
            .collect()
    }

    /// How to reach `peer` now: auth data decrypted (plain values written by
    /// NETunnel 1.0.x are used as they are) and turned into a client plugin.
    async fn link(&self, peer: &Peer) -> Result<PeerLink> {
        let mut auth_data = BTreeMap::new();
        for (key, value) in &peer.auth_data {
            let plain = if SecretKey::is_token(value) {
                self.store
                    .decrypt(&format!("peers[{}].auth_data.{key}", peer.name), value)?
            } else {
                value.clone()
            };
            auth_data.insert(key.clone(), plain);
        }
        let auth = self.auth.client_for_peer(&auth_data).await?;
        Ok(PeerLink {
            name: peer.name.clone(),
            url: peer.target_netunnel_url.clone(),
            proxy: self.store.http_proxy(),
            allow_unverified_ssl: self.store.get("allow_unverified_ssl_peers")
                == Some(Value::Bool(true)),
            auth,
        })
    }

    /// `GET /peers[?name=N]`.
    pub fn list(&self, name: Option<&str>) -> Vec<Peer> {
        self.stored()
            .into_iter()
            .filter(|peer| name.is_none_or(|name| peer.name == name))
            .map(masked)
            .collect()
    }

    /// `GET /peers/{pid}`.
    pub fn get(&self, pid: u64) -> Result<Peer> {
        let peers = self.stored();
        Ok(masked(peers[Self::find(&peers, pid)?].clone()))
    }

    /// `POST /peers`: checks the peer, then stores it.
    pub async fn register(&self, new: NewPeer) -> Result<Peer> {
        let _ops = self.ops.lock().await;
        let mut peers = self.stored();
        if peers.iter().any(|p| p.name == new.name) {
            return Err(Error::BadRequest(format!(
                "Peer `{}` already exists",
                new.name
            )));
        }
        let peer = Peer {
            id: peers.iter().map(|p| p.id).max().unwrap_or(0) + 1,
            name: new.name,
            target_netunnel_url: new.url,
            auth_data: self.seal(&new.auth_data)?,
            static_tunnels: Vec::new(),
        };
        verify(&self.rt, &*self.connector, &self.link(&peer).await?).await?;
        peers.push(peer.clone());
        self.save(&peers).await?;
        record!(
            info,
            TARGET_PEER,
            "registered peer `{}` ({})",
            peer.name,
            peer.target_netunnel_url
        );
        Ok(masked(peer))
    }

    /// `POST /peers/{pid}`: renames, or changes URL or auth data (checked first;
    /// the peer's static tunnels restart with the new settings).
    pub async fn update(&self, pid: u64, changes: PeerChanges) -> Result<Peer> {
        let _ops = self.ops.lock().await;
        let mut peers = self.stored();
        let index = Self::find(&peers, pid)?;
        if let Some(name) = &changes.name {
            if peers.iter().any(|p| p.id != pid && &p.name == name) {
                return Err(Error::BadRequest(format!("Peer `{name}` already exists")));
            }
        }
        let mut peer = peers[index].clone();
        if let Some(name) = changes.name {
            peer.name = name;
        }
        let relink = changes.url.is_some() || changes.auth_data.is_some();
        if let Some(url) = changes.url {
            peer.target_netunnel_url = url;
        }
        if let Some(auth_data) = &changes.auth_data {
            peer.auth_data = self.seal(auth_data)?;
        }
        if relink {
            verify(&self.rt, &*self.connector, &self.link(&peer).await?).await?;
        }
        peers[index] = peer.clone();
        self.save(&peers).await?;
        if relink {
            self.restart_peer(&peer).await?;
        }
        Ok(masked(peer))
    }

    /// `DELETE /peers/{pid}`: stops its static tunnels and forgets it.
    pub async fn delete(&self, pid: u64) -> Result<()> {
        let _ops = self.ops.lock().await;
        let mut peers = self.stored();
        let index = Self::find(&peers, pid)?;
        let peer = peers.remove(index);
        for tunnel in &peer.static_tunnels {
            self.stop_runner((pid, tunnel.id)).await;
        }
        self.save(&peers).await?;
        record!(info, TARGET_PEER, "deleted peer `{}`", peer.name);
        Ok(())
    }

    /// `GET /peers/{pid}/static_tunnels`.
    pub fn static_tunnels(&self, pid: u64) -> Result<Vec<StaticTunnel>> {
        let peers = self.stored();
        Ok(peers[Self::find(&peers, pid)?].static_tunnels.clone())
    }

    /// `GET /peers/{pid}/static_tunnels/{sid}`.
    pub fn static_tunnel(&self, pid: u64, sid: u64) -> Result<StaticTunnel> {
        self.static_tunnels(pid)?
            .into_iter()
            .find(|t| t.id == sid)
            .ok_or_else(|| {
                Error::NotFound(format!("No static tunnel by id `{sid}` on peer `{pid}`"))
            })
    }

    /// Whether static tunnel `sid` of peer `pid` is up right now.
    pub fn is_online(&self, pid: u64, sid: u64) -> bool {
        self.runners()
            .get(&(pid, sid))
            .is_some_and(|r| r.is_online())
    }

    fn free_local_port(&self, peers: &[Peer], timing: &Timing, address: &str) -> Result<u16> {
        let used: Vec<u16> = peers
            .iter()
            .flat_map(|p| p.static_tunnels.iter().map(|t| t.tunnel_local_port))
            .collect();
        for port in timing
            .local_ports
            .clone()
            .filter(|port| !used.contains(port))
        {
            match std::net::TcpListener::bind((address, port)) {
                Ok(_) => return Ok(port),
                // Taken: try the next one.
                Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {}
                // Not an address of this host, or not one we may bind: no
                // port of the range will do, so say why.
                Err(err) => {
                    return Err(Error::BadRequest(format!(
                        "cannot listen on {address}:{port}: {err}"
                    )))
                }
            }
        }
        Err(Error::BadRequest(format!(
            "no free local port left in {}-{}",
            timing.local_ports.start(),
            timing.local_ports.end()
        )))
    }

    /// `POST /peers/{pid}/static_tunnels`: returns once the tunnel is online;
    /// when the first attempt fails, nothing is stored and the reason is returned.
    pub async fn create_static_tunnel(
        &self,
        pid: u64,
        new: NewStaticTunnel,
    ) -> Result<StaticTunnel> {
        let _ops = self.ops.lock().await;
        self.ensure_open()?;
        let mut peers = self.stored();
        let index = Self::find(&peers, pid)?;
        let timing = Timing::from_config(&self.store);
        let spec = StaticTunnel {
            id: peers[index]
                .static_tunnels
                .iter()
                .map(|t| t.id)
                .max()
                .unwrap_or(0)
                + 1,
            tunnel_remote_address: new.remote_address,
            tunnel_remote_port: new.remote_port,
            tunnel_local_port: self.free_local_port(&peers, &timing, &new.local_address)?,
            tunnel_local_address: new.local_address,
        };
        let (first_tx, first_rx) = oneshot::channel();
        let runner = Runner::start(
            Arc::clone(&self.rt),
            Arc::clone(&self.connector),
            self.link(&peers[index]).await?,
            spec.clone(),
            timing,
            Some(first_tx),
        );
        let outcome = first_rx
            .await
            .unwrap_or_else(|_| Err(Error::remote("the static tunnel stopped")));
        if let Err(err) = outcome {
            runner.stop(&self.rt).await;
            return Err(Error::BadRequest(format!(
                "Failed to create a static tunnel to peer `{}`: {err}",
                peers[index].name
            )));
        }
        peers[index].static_tunnels.push(spec.clone());
        if let Err(err) = self.save(&peers).await {
            runner.stop(&self.rt).await;
            return Err(err);
        }
        self.keep(pid, spec.id, runner).await?;
        Ok(spec)
    }

    /// `DELETE /peers/{pid}/static_tunnels/{sid}`.
    pub async fn delete_static_tunnel(&self, pid: u64, sid: u64) -> Result<()> {
        let _ops = self.ops.lock().await;
        let mut peers = self.stored();
        let index = Self::find(&peers, pid)?;
        let before = peers[index].static_tunnels.len();
        peers[index].static_tunnels.retain(|t| t.id != sid);
        if peers[index].static_tunnels.len() == before {
            return Err(Error::NotFound(format!(
                "No static tunnel by id `{sid}` on peer `{pid}`"
            )));
        }
        self.stop_runner((pid, sid)).await;
        self.save(&peers).await
    }

    async fn stop_runner(&self, key: RunnerKey) {
        let runner = self.runners().remove(&key);
        if let Some(runner) = runner {
            runner.stop(&self.rt).await;
        }
    }

    async fn start_runner(&self, peer: &Peer, spec: &StaticTunnel, timing: &Timing) -> Result<()> {
        self.ensure_open()?;
        let runner = Runner::start(
            Arc::clone(&self.rt),
            Arc::clone(&self.connector),
            self.link(peer).await?,
            spec.clone(),
            timing.clone(),
            None,
        );
        self.keep(peer.id, spec.id, runner).await
    }

    /// Every running static tunnel's metrics, by peer name, then id. A
    /// runner's counts start again when it is restarted (its peer's URL,
    /// auth data or the global proxy changed).
    pub fn static_tunnel_metrics(&self) -> Vec<crate::metrics::StaticTunnelMetrics> {
        let runners: Vec<(RunnerKey, Arc<Runner>)> = self
            .runners()
            .iter()
            .map(|(key, runner)| (*key, Arc::clone(runner)))
            .collect();
        // Names as stored now: a rename does not restart the runners.
        let names: HashMap<u64, String> = self
            .stored()
            .into_iter()
            .map(|peer| (peer.id, peer.name))
            .collect();
        let mut list: Vec<_> = runners
            .iter()
            .map(|((pid, _), runner)| {
                let name = names.get(pid).cloned().unwrap_or_default();
                runner.metrics(name)
            })
            .collect();
        list.sort_by(|a, b| (&a.peer, a.id).cmp(&(&b.peer, b.id)));
        list
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::NotAllowed("the server is stopping".into()));
        }
        Ok(())
    }

    /// Adds a started runner; when [`PeerManager::close`] ran meanwhile (its
    /// sweep may have missed this one), stops it instead.
    async fn keep(&self, pid: u64, sid: u64, runner: Arc<Runner>) -> Result<()> {
        self.runners().insert((pid, sid), runner);
        if self.closed.load(Ordering::Acquire) {
            self.stop_runner((pid, sid)).await;
            return Err(Error::NotAllowed("the server is stopping".into()));
        }
        Ok(())
    }

    async fn restart_peer(&self, peer: &Peer) -> Result<()> {
        let timing = Timing::from_config(&self.store);
        for spec in &peer.static_tunnels {
            self.stop_runner((peer.id, spec.id)).await;
            self.start_runner(peer, spec, &timing).await?;
        }
        Ok(())
    }

    /// Starts every stored static tunnel; peers need not be up.
    pub async fn restore(&self) -> Result<()> {
        let timing = Timing::from_config(&self.store);
        for peer in self.stored() {
            for spec in &peer.static_tunnels {
                record!(
                    info,
                    TARGET_PEER,
                    "restoring static tunnel {}:{} to peer `{}`",
                    spec.tunnel_local_address,
                    spec.tunnel_local_port,
                    peer.name
                );
                self.start_runner(&peer, spec, &timing).await?;
            }
        }
        Ok(())
    }

    /// Restarts every static tunnel with the current settings (e.g. a new proxy).
    pub async fn restart_all(&self) -> Result<()> {
        let _ops = self.ops.lock().await;
        for peer in self.stored() {
            self.restart_peer(&peer).await?;
        }
        Ok(())
    }

    /// Stops every static tunnel (a factory reset): waits for a change under
    /// way (a static tunnel being created) to finish, so it is stopped too.
    pub async fn stop_all(&self) {
        let _ops = self.ops.lock().await;
        self.stop_runners().await;
    }

    /// Stops every static tunnel for good (the server stopping): none starts
    /// after this, and one being created when it is called is stopped as it
    /// comes up. Does not wait for changes under way (a peer being checked),
    /// only for a write in progress: none is written after this returns.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        drop(self.saving.lock().await);
        self.stop_runners().await;
    }

    async fn stop_runners(&self) {
        let runners: Vec<Arc<Runner>> = self.runners().drain().map(|(_, r)| r).collect();
        for runner in runners {
            runner.stop(&self.rt).await;
        }
    }
}
