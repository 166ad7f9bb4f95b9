//! Why work was refused or failed: a fixed set, so that a label made of one
//! stays bounded.

/// Why a channel, tunnel or connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The server's auth plugin did not authenticate a request, or answered
    /// `POST /authenticate` with 401 or 403.
    Unauthorized,
    /// The server had its most channels (`max_channels`).
    ChannelLimit,
    /// The channel had its most tunnels.
    TunnelLimit,
    /// The tunnel end carried its most connections at once.
    ConnectionLimit,
    /// A forward tunnel's destination is not in `allowed_tunnel_destinations`.
    DestinationNotAllowed,
    /// A reverse tunnel's entrance is not in `allowed_tunnel_entrances`.
    EntranceNotAllowed,
}

impl Refusal {
    /// Every reason, in the order they are rendered.
    pub const ALL: [Refusal; 6] = [
        Refusal::Unauthorized,
        Refusal::ChannelLimit,
        Refusal::TunnelLimit,
        Refusal::ConnectionLimit,
        Refusal::DestinationNotAllowed,
        Refusal::EntranceNotAllowed,
    ];

    /// The `reason` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::ChannelLimit => "channel_limit",
            Refusal::TunnelLimit => "tunnel_limit",
            Refusal::ConnectionLimit => "connection_limit",
            Refusal::DestinationNotAllowed => "destination_not_allowed",
            Refusal::EntranceNotAllowed => "entrance_not_allowed",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Why work of a tunnel failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// The exit could not connect to the destination.
    ConnectFailed,
    /// The entrance could not open a websocket to the other side.
    WebsocketFailed,
    /// A websocket the entrance asked the other side for did not arrive in time.
    WebsocketTimeout,
    /// The other side sent a frame out of step (data before `pasten`, say),
    /// and its websocket was closed.
    OutOfStep,
}

impl Failure {
    /// Every reason, in the order they are rendered.
    pub const ALL: [Failure; 4] = [
        Failure::ConnectFailed,
        Failure::WebsocketFailed,
        Failure::WebsocketTimeout,
        Failure::OutOfStep,
    ];

    /// The `reason` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::ConnectFailed => "connect_failed",
            Failure::WebsocketFailed => "websocket_failed",
            Failure::WebsocketTimeout => "websocket_timeout",
            Failure::OutOfStep => "out_of_step",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_place() {
        for (i, reason) in Refusal::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        for (i, reason) in Failure::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }
}
