//! What travels on the wire: REST bodies (JSON) and control-channel documents (BSON).

mod control;
mod peer_requests;
mod peers;
mod proxy_request;
mod rest;

pub use crate::http_head::ResponseHead;
pub use control::{ControlFrame, ControlMessage};
pub use peer_requests::{NewPeer, NewStaticTunnel, PeerChanges};
pub use peers::{Peer, StaticTunnel};
pub use proxy_request::{HttpProxyRequest, HttpProxyView};
pub use rest::{
    ChannelCreated, CreateChannel, CreateTunnel, DeleteTunnel, ErrorBody, TunnelCreated,
};

/// Text frame an entrance sends on a spare websocket when a TCP connection arrives.
pub const START_MESSAGE: &str = "pasten";

/// Text frame that ends one direction of a connection: the sender read end
/// of file from its TCP connection and sends nothing more; the receiver shuts
/// down the writing half of its own (a TCP half-close, carried end to end).
/// Once both sides have sent it the websocket carries the next connection.
/// An extension: used only when both sides are ours (see [`is_ours`]);
/// NETunnel 1.0.x closes the websocket, both directions at once, instead.
pub const END_MESSAGE: &str = "netunnel:end";

/// Whether a peer reporting `version` is this implementation (2.x or later),
/// so our extensions may be used with it.
pub fn is_ours(version: &str) -> bool {
    version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse::<u32>().ok())
        .is_some_and(|major| major >= 2)
}

/// Largest payload of one binary data frame (NETunnel 1.0.x reads in chunks of this size).
pub const MAX_FRAME_PAYLOAD: usize = 65535;
