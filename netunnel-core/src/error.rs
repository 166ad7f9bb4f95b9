//! The library's error type.

use std::io;

/// Everything that can go wrong in the core, the server and the client.
#[derive(Debug, thiserror::Error)]
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
    WebSocket(#[from] Box<async_tungstenite::tungstenite::Error>),
    /// The remote side answered with an `error` (REST JSON or control-channel response).
    #[error("{0}")]
    Remote(String),
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
    /// The control channel is closed.
    #[error("the control channel is closed")]
    ChannelClosed,
    /// An operation did not complete in time.
    #[error("timed out while {0}")]
    Timeout(String),
    /// The given URL or setting is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// Builds an [`Error::Io`] with a description of what failed.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause: source,
        }
    }

    /// The HTTP status a server answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BadRequest(_) | Error::NotAllowed(_) | Error::Config(_) => 400,
            Error::NotFound(_) => 404,
            _ => 500,
        }
    }
}

impl From<async_tungstenite::tungstenite::Error> for Error {
    fn from(err: async_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(err))
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
