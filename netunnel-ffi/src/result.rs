//! `netunnel_result`: what every fallible call returns.

use netunnel_core::ErrorKind;

/// What a call returns: `NETUNNEL_OK`, or why it failed. The numbers are
/// stable: 1 to 99 are the engine's error kinds (the same numbers as
/// `netunnel_core::ErrorKind`), 100 and up are the C library's own.
/// `netunnel_last_error()` has the message of the last failure.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum netunnel_result {
    /// Success.
    NETUNNEL_OK = 0,
    /// A local socket or file operation failed.
    NETUNNEL_IO = 1,
    /// The server (or a proxy) could not be reached, or the connection broke.
    NETUNNEL_CONNECTION = 2,
    /// The server refused the request (its message says why).
    NETUNNEL_REFUSED = 3,
    /// The request or a setting was malformed (HTTP 400).
    NETUNNEL_BAD_REQUEST = 4,
    /// No such channel, tunnel, peer or static tunnel (HTTP 404).
    NETUNNEL_NOT_FOUND = 5,
    /// A tunnel destination or entrance the server's rules do not allow.
    NETUNNEL_NOT_ALLOWED = 6,
    /// Authentication failed or was refused.
    NETUNNEL_UNAUTHORIZED = 7,
    /// A body or message over its size limit (HTTP 413).
    NETUNNEL_TOO_LARGE = 8,
    /// The client is not connected, or its control channel ended.
    NETUNNEL_CHANNEL_CLOSED = 9,
    /// Something took longer than its bound.
    NETUNNEL_TIMEOUT = 10,
    /// The other side broke the protocol.
    NETUNNEL_PROTOCOL = 11,
    /// An invalid setting: a bad URL, key, certificate or configuration file.
    NETUNNEL_CONFIG = 12,
    /// An authentication plugin failed.
    NETUNNEL_PLUGIN = 13,
    /// The server is at one of its caps (channels, tunnels; HTTP 503): try
    /// again later.
    NETUNNEL_BUSY = 14,
    /// A required pointer argument was NULL.
    NETUNNEL_NULL_ARGUMENT = 100,
    /// An argument was not valid: not UTF-8, not JSON, out of range.
    NETUNNEL_INVALID_ARGUMENT = 101,
    /// The library panicked (a bug): the call did not complete.
    NETUNNEL_PANIC = 102,
    /// A failure of a kind this version of the header does not know.
    NETUNNEL_OTHER = 199,
}

impl From<ErrorKind> for netunnel_result {
    fn from(kind: ErrorKind) -> Self {
        use netunnel_result::*;
        match kind {
            ErrorKind::Io => NETUNNEL_IO,
            ErrorKind::Connection => NETUNNEL_CONNECTION,
            ErrorKind::Refused => NETUNNEL_REFUSED,
            ErrorKind::BadRequest => NETUNNEL_BAD_REQUEST,
            ErrorKind::NotFound => NETUNNEL_NOT_FOUND,
            ErrorKind::NotAllowed => NETUNNEL_NOT_ALLOWED,
            ErrorKind::Unauthorized => NETUNNEL_UNAUTHORIZED,
            ErrorKind::TooLarge => NETUNNEL_TOO_LARGE,
            ErrorKind::ChannelClosed => NETUNNEL_CHANNEL_CLOSED,
            ErrorKind::Timeout => NETUNNEL_TIMEOUT,
            ErrorKind::Protocol => NETUNNEL_PROTOCOL,
            ErrorKind::Config => NETUNNEL_CONFIG,
            ErrorKind::Plugin => NETUNNEL_PLUGIN,
            ErrorKind::Busy => NETUNNEL_BUSY,
            _ => NETUNNEL_OTHER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_kinds_keep_their_numbers() {
        use ErrorKind::*;
        let kinds = [
            Io,
            Connection,
            Refused,
            BadRequest,
            NotFound,
            NotAllowed,
            Unauthorized,
            TooLarge,
            ChannelClosed,
            Timeout,
            Protocol,
            Config,
            Plugin,
            Busy,
        ];
        for (number, kind) in (1u32..).zip(kinds) {
            assert_eq!(kind.code(), number, "{kind:?}");
            assert_eq!(netunnel_result::from(kind) as u32, number, "{kind:?}");
        }
    }
}
