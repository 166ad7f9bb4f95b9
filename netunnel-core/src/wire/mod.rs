//! What travels on the wire: REST bodies (JSON) and control-channel documents (BSON).

mod control;
mod peers;
mod rest;

pub use control::{ControlFrame, ControlMessage};
pub use peers::{Peer, StaticTunnel};
pub use rest::{
    ChannelCreated, CreateChannel, CreateTunnel, DeleteTunnel, ErrorBody, TunnelCreated,
};

/// Text frame an entrance sends on a spare websocket when a TCP connection arrives.
pub const START_MESSAGE: &str = "pasten";

/// Largest payload of one binary data frame (NETunnel 1.0.x reads in chunks of this size).
pub const MAX_FRAME_PAYLOAD: usize = 65535;
