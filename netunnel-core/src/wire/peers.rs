//! Peer and static tunnel objects, as the `/peers` routes show them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A static tunnel: a permanent forward tunnel from this server to a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticTunnel {
    /// Id, `max + 1` within the peer.
    pub id: u64,
    /// Destination address, as seen from the peer.
    pub tunnel_remote_address: String,
    /// Destination port, as seen from the peer.
    pub tunnel_remote_port: u16,
    /// Address this server listens on.
    pub tunnel_local_address: String,
    /// Port this server listens on (chosen by the server).
    pub tunnel_local_port: u16,
}

/// Another NETunnel server this one connects to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Id, `max + 1`.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// URL of the peer's server.
    pub target_netunnel_url: String,
    /// Data for the authentication plugin (values are secrets: shown masked).
    #[serde(default)]
    pub auth_data: BTreeMap<String, String>,
    /// The peer's static tunnels.
    #[serde(default)]
    pub static_tunnels: Vec<StaticTunnel>,
}
