//! What the load generator and the service say to each other.
//!
//! The first byte of a connection picks what the service does with it:
//!
//! - [`ECHO`]: send back every byte, that first one included, until EOF. The
//!   echo messages of the load generator are [`echo_message`]s (which start with
//!   `ECHO`), so a tunnel carries plain 64-byte echoes.
//! - [`UPLOAD`]: read the [`pattern`](crate::pattern) stream in frames (a
//!   `u32` LE length, then that many bytes) until an empty frame, check every
//!   byte, answer with an [`UploadReport`]. Frames, not EOF, end the upload:
//!   tunnels do not carry a half-closed connection (closing one way closes both),
//!   so the answer could not come back after a shutdown.
//! - [`DOWNLOAD`]: send the pattern stream until the peer goes away.

use anyhow::{bail, Result};

use crate::pattern;

/// First byte of an echoed connection.
pub const ECHO: u8 = b'E';
/// First byte of an upload (client -> service) transfer.
pub const UPLOAD: u8 = b'U';
/// First byte of a download (service -> client) transfer.
pub const DOWNLOAD: u8 = b'D';

/// Size of an upload frame's header: the length of its payload, `u32` LE.
pub const FRAME_HEADER: usize = 4;

/// Size of one echo message.
pub const ECHO_LEN: usize = 64;

/// The echo message number `round` of connection `id`: unique per connection
/// and round, so an answer meant for another connection does not pass.
pub fn echo_message(id: u64, round: u64) -> [u8; ECHO_LEN] {
    let mut message = [0u8; ECHO_LEN];
    message[0] = ECHO;
    message[1..9].copy_from_slice(&id.to_le_bytes());
    message[9..17].copy_from_slice(&round.to_le_bytes());
    let rest = ECHO_LEN - 17;
    message[17..].copy_from_slice(pattern::slice(id.wrapping_mul(131) + round, rest));
    message
}

/// What the service answers after an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadReport {
    /// Payload bytes received (the sum of the frames' lengths).
    pub received: u64,
    /// Offset of the first byte that differed from the pattern, if any.
    pub first_bad: Option<u64>,
}

/// Size of an encoded [`UploadReport`].
pub const REPORT_LEN: usize = 17;

impl UploadReport {
    /// The report as sent: received (u64 LE), a flag, first bad offset (u64 LE).
    pub fn encode(&self) -> [u8; REPORT_LEN] {
        let mut bytes = [0u8; REPORT_LEN];
        bytes[..8].copy_from_slice(&self.received.to_le_bytes());
        if let Some(bad) = self.first_bad {
            bytes[8] = 1;
            bytes[9..].copy_from_slice(&bad.to_le_bytes());
        }
        bytes
    }

    /// Reads a report as [`encode`](Self::encode) wrote it.
    pub fn decode(bytes: &[u8; REPORT_LEN]) -> Result<Self> {
        let word = |range: std::ops::Range<usize>| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[range]);
            u64::from_le_bytes(word)
        };
        let first_bad = match bytes[8] {
            0 => None,
            1 => Some(word(9..17)),
            flag => bail!("malformed upload report (flag {flag})"),
        };
        Ok(Self {
            received: word(0..8),
            first_bad,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_differ_per_connection_and_round() {
        assert_eq!(echo_message(3, 1)[0], ECHO);
        assert_ne!(echo_message(3, 1), echo_message(4, 1));
        assert_ne!(echo_message(3, 1), echo_message(3, 2));
        assert_eq!(echo_message(3, 1), echo_message(3, 1));
    }

    #[test]
    fn reports_round_trip() {
        for report in [
            UploadReport {
                received: 123,
                first_bad: None,
            },
            UploadReport {
                received: 1 << 40,
                first_bad: Some(77),
            },
        ] {
            assert_eq!(UploadReport::decode(&report.encode()).ok(), Some(report));
        }
        let mut bad = [0u8; REPORT_LEN];
        bad[8] = 9;
        assert!(UploadReport::decode(&bad).is_err());
    }
}
