//! Tunnels on the server: creating, connecting,
//! deleting and stopping them on behalf of a channel.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::BoxFuture;

use super::{destination, ServerChannel, ServerCore, CONNECT_GRACE};
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::instance::{record, TARGET_SERVER};
use crate::metrics::{socket_text, EndKind, Refusal, TunnelLabel, TunnelStats};
use crate::tunnel::{Entrance, Exit, SpareSettings, SpareSource, TunnelEnd};
use crate::wire::{ControlMessage, CreateTunnel, TunnelCreated};
use crate::ws::{Upgraded, WebSocket};

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

/// ` (10.0.0.5, 10.0.0.6)`: the addresses a name was pinned to, for the log;
/// empty when the address was one already.
fn pinned_note(requested: &str, addresses: &[std::net::IpAddr]) -> String {
    match addresses {
        [one] if one.to_string() == requested => String::new(),
        _ => {
            let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
            format!(" ({})", list.join(", "))
        }
    }
}

impl ServerCore {
    /// `POST /channels/{cid}/tunnels`.
    pub async fn create_tunnel(
        self: &Arc<Self>,
        cid: u64,
        request: CreateTunnel,
    ) -> Result<TunnelCreated> {
        let entry = self.channel(cid)?;
        let limits = self.settings().limits;
        self.tunnel_room(&entry, limits.max_tunnels_per_channel)?;
        match request {
            CreateTunnel::Forward {
                exit_address,
                exit_port,
                ..
            } => {
                let rules = self.store.allowed_destinations();
                let addresses = destination::permitted(
                    &*self.rt,
                    Some(&rules),
                    &exit_address,
                    exit_port,
                    "destination",
                )
                .await
                .inspect_err(|err| self.count_not_allowed(err, Refusal::DestinationNotAllowed))?;
                let tunnel_id = entry.next_tunnel.fetch_add(1, Ordering::Relaxed);
                record!(
                    info,
                    TARGET_SERVER,
                    "channel {cid}: tunnel {tunnel_id} to {exit_address}:{exit_port}{}",
                    pinned_note(&exit_address, &addresses)
                );
                let reuse = crate::wire::is_ours(&entry.client_version);
                let label = TunnelLabel {
                    reverse: false,
                    entrance: String::new(),
                    exit: socket_text(&exit_address, exit_port),
                };
                let exit = Exit::pinned(
                    Arc::clone(&self.rt),
                    &addresses,
                    exit_port,
                    reuse,
                    limits.max_connections_per_tunnel,
                    TunnelStats::new(&self.totals, EndKind::Exit, label),
                );
                self.add_tunnel(&entry, tunnel_id, TunnelEnd::Exit(exit), limits)
                    .await?;
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
                let rules = self.store.allowed_entrances();
                let addresses = destination::permitted(
                    &*self.rt,
                    rules.as_ref(),
                    &entrance_address,
                    entrance_port.unwrap_or(0),
                    "entrance",
                )
                .await
                .inspect_err(|err| self.count_not_allowed(err, Refusal::EntranceNotAllowed))?;
                let control = self.connected_control(&entry).await?;
                // The first address checked: a name is not resolved again.
                let bind = addresses
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| entrance_address.clone());
                let listener = self
                    .rt
                    .listen(bind, entrance_port.unwrap_or(0))
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
                // Our server answers pings but sends none on tunnel websockets;
                // surplus spares linger for its heartbeat interval.
                let spares = SpareSettings {
                    heartbeat: None,
                    max_connections: limits.max_connections_per_tunnel,
                    ..SpareSettings::new(self.settings().heartbeat)
                };
                let label = TunnelLabel::listening(true, listener.local_addr().ok(), String::new());
                let stats = TunnelStats::new(&self.totals, EndKind::Entrance, label);
                let entrance =
                    Entrance::start(Arc::clone(&self.rt), listener, source, spares, reuse, stats)?;
                let port = entrance.local_addr().port();
                record!(
                    info,
                    TARGET_SERVER,
                    "channel {cid}: reverse tunnel {tunnel_id} listening on {}",
                    entrance.local_addr()
                );
                self.add_tunnel(&entry, tunnel_id, TunnelEnd::Entrance(entrance), limits)
                    .await?;
                Ok(TunnelCreated {
                    tunnel_id,
                    entrance_port: Some(port),
                })
            }
        }
    }

    /// [`Error::Busy`] when `entry` has `limit` tunnels already.
    fn tunnel_room(&self, entry: &ServerChannel, limit: usize) -> Result<()> {
        let count = entry.tunnels().len();
        if count >= limit {
            return Err(self.no_tunnel_room(entry, count, limit));
        }
        Ok(())
    }

    /// A refusal by the destination rules, counted for `reason`.
    fn count_not_allowed(&self, err: &Error, reason: Refusal) {
        if matches!(err, Error::NotAllowed(_)) {
            self.totals.refused(reason);
        }
    }

    fn no_tunnel_room(&self, entry: &ServerChannel, count: usize, limit: usize) -> Error {
        self.totals.refused(Refusal::TunnelLimit);
        entry.refusing_tunnels.refused(count, limit);
        Error::Busy(format!(
            "channel `{}` has its most tunnels ({limit})",
            entry.id
        ))
    }

    /// Adds a tunnel made meanwhile, unless others took the last room: then
    /// it is stopped and [`Error::Busy`] returned.
    async fn add_tunnel(
        &self,
        entry: &ServerChannel,
        tunnel_id: u64,
        end: TunnelEnd,
        limits: super::Limits,
    ) -> Result<()> {
        let limit = limits.max_tunnels_per_channel;
        let (refused, closed, count) = {
            let mut tunnels = entry.tunnels();
            // The channel ended while the tunnel was being made: its
            // tunnels were stopped (under this lock) after `closing` fired,
            // so this one would outlive it.
            if entry.closing.is_fired() {
                (Some(end), true, tunnels.len())
            } else if tunnels.len() >= limit {
                (Some(end), false, tunnels.len())
            } else {
                tunnels.insert(tunnel_id, end);
                (None, false, tunnels.len())
            }
        };
        match refused {
            Some(end) => {
                end.finish(&*self.rt, true).await;
                if closed {
                    return Err(Error::NotFound(format!(
                        "channel `{}` was closed",
                        entry.id
                    )));
                }
                Err(self.no_tunnel_room(entry, count, limit))
            }
            None => {
                self.totals.tunnel_opened();
                entry.refusing_tunnels.admitted(count, limit);
                Ok(())
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
    pub async fn tunnel_websocket(&self, cid: u64, tid: u64, upgraded: Upgraded) {
        let ws = upgraded.into_server().await;
        let end = self
            .channel(cid)
            .ok()
            .and_then(|entry| entry.tunnels().get(&tid).cloned());
        match end {
            Some(TunnelEnd::Exit(exit)) => exit.serve(ws),
            Some(TunnelEnd::Entrance(entrance)) => entrance.add_spare(ws),
            None => record!(
                debug,
                TARGET_SERVER,
                "websocket for unknown tunnel {cid}/{tid} dropped"
            ),
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
        if !force {
            record!(
                info,
                TARGET_SERVER,
                "channel {cid}: tunnel {tid} draining: waiting for its open connections"
            );
        }
        end.finish(&*self.rt, force).await;
        record!(info, TARGET_SERVER, "channel {cid}: tunnel {tid} deleted");
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
                Some(Err(err)) => record!(
                    warn,
                    TARGET_SERVER,
                    "client could not delete tunnel {tid}: {err}"
                ),
                None => record!(
                    warn,
                    TARGET_SERVER,
                    "client did not answer the deletion of tunnel {tid}"
                ),
            }
        }
        end.wait_stopped().await;
        Ok(())
    }
}
