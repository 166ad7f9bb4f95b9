//! The library's error type and its stable kinds.

use std::io;

/// What kind of failure an [`Error`] is. Field-less and stable: HTTP statuses,
/// C result codes and Python exception classes are all derived from it, so a
/// variant keeps its number (`kind as u32`) and is never removed; new ones get
/// new numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum ErrorKind {
    /// A local socket or file operation failed.
    Io = 1,
    /// The server could not be reached, or the connection to it failed.
    Connection = 2,
    /// The server refused the request (a JSON `error`, or an error status).
    Refused = 3,
    /// The request or a setting was malformed.
    BadRequest = 4,
    /// An object does not exist.
    NotFound = 5,
    /// A tunnel destination or entrance is not in the server's allow-list.
    NotAllowed = 6,
    /// Authentication failed or was refused.
    Unauthorized = 7,
    /// A request body or header is larger than the server accepts.
    TooLarge = 8,
    /// The control channel is closed (or the client is not connected).
    ChannelClosed = 9,
    /// An operation did not complete in time.
    Timeout = 10,
    /// The other side does not follow the protocol.
    Protocol = 11,
    /// A URL, file or setting given to the library is not usable.
    Config = 12,
    /// An authentication plugin failed on its own (not a refusal by the server).
    Plugin = 13,
    /// The server is at one of its caps (channels, tunnels): try again later.
    Busy = 14,
}

impl ErrorKind {
    /// Every kind, in the order of their numbers.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Io,
        ErrorKind::Connection,
        ErrorKind::Refused,
        ErrorKind::BadRequest,
        ErrorKind::NotFound,
        ErrorKind::NotAllowed,
        ErrorKind::Unauthorized,
        ErrorKind::TooLarge,
        ErrorKind::ChannelClosed,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Config,
        ErrorKind::Plugin,
        ErrorKind::Busy,
    ];

    /// The kind's stable name (`not_allowed`), what our servers put in an
    /// error body's `kind` so that our clients keep it across the wire.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Connection => "connection",
            ErrorKind::Refused => "refused",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NotAllowed => "not_allowed",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::ChannelClosed => "channel_closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Config => "config",
            ErrorKind::Plugin => "plugin",
            ErrorKind::Busy => "busy",
        }
    }

    /// The kind called `name` (see [`ErrorKind::name`]).
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The kind's stable number (`Io` is 1, `Plugin` 13), what the C
    /// library's result codes and a binding's exceptions are keyed on.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The HTTP status a server answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadRequest | ErrorKind::NotAllowed | ErrorKind::Config => 400,
            ErrorKind::Unauthorized => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::TooLarge => 413,
            ErrorKind::Busy => 503,
            _ => 500,
        }
    }

    /// The kind a server's refusal with HTTP `status` stands for. NETunnel
    /// 1.0.x answers most errors with 500, which stays a plain refusal.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            400 => ErrorKind::BadRequest,
            401 | 403 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            413 | 431 => ErrorKind::TooLarge,
            503 => ErrorKind::Busy,
            _ => ErrorKind::Refused,
        }
    }
}

/// Everything that can go wrong in the core, the server and the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed. (The cause is part of the message rather than
    /// a `source`, so error chains do not print it twice.)
    #[error("{context}: {cause}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        cause: io::Error,
    },
    /// A websocket failed or closed unexpectedly.
    #[error("websocket error: {0}")]
    WebSocket(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server could not be reached or its answer could not be read.
    #[error("{0}")]
    Connection(String),
    /// The remote side answered with an error (REST JSON or a control-channel
    /// response): its message, and the HTTP status when there was one.
    #[error("{message}")]
    Remote {
        /// The HTTP status of the answer (`None`: a control-channel response).
        status: Option<u16>,
        /// What the server said.
        message: String,
        /// The kind the server gave the failure (our servers name it in the
        /// error body; NETunnel 1.0.x does not, and the status decides).
        kind: Option<ErrorKind>,
    },
    /// The remote answered something that does not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A request was malformed (maps to HTTP 400 on the server).
    #[error("{0}")]
    BadRequest(String),
    /// An object does not exist (maps to HTTP 404 on the server).
    #[error("{0}")]
    NotFound(String),
    /// A tunnel destination or entrance is refused by the server's allow-list.
    #[error("{0}")]
    NotAllowed(String),
    /// Authentication failed (maps to HTTP 403 on the server).
    #[error("{0}")]
    Unauthorized(String),
    /// An authentication plugin failed; its own error is the source.
    #[error("the authentication plugin failed: {0}")]
    Plugin(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A request body is larger than allowed (maps to HTTP 413 on the server).
    #[error("{0}")]
    TooLarge(String),
    /// The control channel is closed.
    #[error("the control channel is closed")]
    ChannelClosed,
    /// The server is at one of its caps (maps to HTTP 503 on the server).
    #[error("{0}")]
    Busy(String),
    /// An operation did not complete in time.
    #[error("timed out while {0}")]
    Timeout(String),
    /// The given URL or setting is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The configuration (file, environment, secret key) cannot be used or
    /// written; the source is a `config::ConfigError`.
    #[error("{0}")]
    Configuration(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Builds an [`Error::Io`] with a description of what failed.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause: source,
        }
    }

    /// An authentication plugin's own failure, kept as the source.
    pub fn plugin(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Plugin(err.into())
    }

    /// A refusal from the other side, without an HTTP status.
    pub fn remote(message: impl Into<String>) -> Self {
        Error::Remote {
            status: None,
            message: message.into(),
            kind: None,
        }
    }

    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::WebSocket(_) | Error::Connection(_) => ErrorKind::Connection,
            Error::Remote {
                kind: Some(kind), ..
            } => *kind,
            Error::Remote {
                status: Some(status),
                ..
            } => ErrorKind::from_http_status(*status),
            Error::Remote { status: None, .. } => ErrorKind::Refused,
            Error::Protocol(_) => ErrorKind::Protocol,
            Error::BadRequest(_) => ErrorKind::BadRequest,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::NotAllowed(_) => ErrorKind::NotAllowed,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::Plugin(_) => ErrorKind::Plugin,
            Error::TooLarge(_) => ErrorKind::TooLarge,
            Error::ChannelClosed => ErrorKind::ChannelClosed,
            Error::Busy(_) => ErrorKind::Busy,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Config(_) | Error::Configuration(_) => ErrorKind::Config,
        }
    }

    /// The HTTP status a server answers with for this error.
    pub fn http_status(&self) -> u16 {
        self.kind().http_status()
    }

    /// The HTTP status of a server's refusal, when it came with one.
    pub fn remote_status(&self) -> Option<u16> {
        match self {
            Error::Remote { status, .. } => *status,
            _ => None,
        }
    }
}

#[cfg(test)]
impl Error {
    /// A websocket failure, kept as the source (tungstenite's type stays out
    /// of the public API; no `From` conversion is public).
    pub(crate) fn websocket(err: async_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(err))
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_round_trip_where_the_protocol_has_a_status() {
        for kind in [
            ErrorKind::BadRequest,
            ErrorKind::Unauthorized,
            ErrorKind::NotFound,
            ErrorKind::TooLarge,
            ErrorKind::Busy,
        ] {
            assert_eq!(ErrorKind::from_http_status(kind.http_status()), kind);
        }
        // 1.0.x answers 500 for most refusals: a refusal, not our fault.
        assert_eq!(ErrorKind::from_http_status(500), ErrorKind::Refused);
    }

    #[test]
    fn kinds_keep_their_numbers() {
        // C result codes are these numbers: changing one breaks the ABI.
        assert_eq!(ErrorKind::Io as u32, 1);
        assert_eq!(ErrorKind::ChannelClosed as u32, 9);
        assert_eq!(ErrorKind::Config as u32, 12);
        assert_eq!(ErrorKind::Plugin as u32, 13);
        assert_eq!(ErrorKind::Busy as u32, 14);
    }

    #[test]
    fn a_refusal_keeps_its_status_and_message() {
        let err = Error::Remote {
            status: Some(404),
            message: "unknown peer".into(),
            kind: None,
        };
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.remote_status(), Some(404));
        assert_eq!(err.to_string(), "unknown peer");
        assert_eq!(Error::remote("no").kind(), ErrorKind::Refused);
        let named = Error::Remote {
            status: Some(400),
            message: "port 10 is not allowed".into(),
            kind: ErrorKind::from_name("not_allowed"),
        };
        assert_eq!(named.kind(), ErrorKind::NotAllowed);
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.name()), Some(kind));
        }
    }
}
