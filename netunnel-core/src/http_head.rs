//! The head of an HTTP/1.x response, as a server or a proxy sends it: parsed
//! by hand on the client side of a websocket upgrade and of a proxy
//! `CONNECT`, where a hostile peer chooses every byte.

use crate::error::{Error, Result};

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// Header lines with a `:`, names and values trimmed, in order.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// Parses a head (the bytes up to and including the blank line); `who`
    /// names the other side in errors ("the server", "the proxy").
    pub fn parse(head: &[u8], who: &str) -> Result<ResponseHead> {
        let bad = || Error::Protocol(format!("{who}'s answer is not HTTP"));
        let text = std::str::from_utf8(head).map_err(|_| bad())?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().ok_or_else(bad)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().ok_or_else(bad)?;
        if !version.starts_with("HTTP/1.") {
            return Err(bad());
        }
        let status = parts
            .next()
            .and_then(|code| code.parse().ok())
            .filter(|code| (100..1000).contains(code))
            .ok_or_else(bad)?;
        let reason = parts.next().unwrap_or("").to_string();
        let headers = lines
            .filter(|line| !line.is_empty())
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
            .collect();
        Ok(ResponseHead {
            status,
            reason,
            headers,
        })
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseHead;

    #[test]
    fn a_head_parses_into_status_reason_and_headers() {
        let head = ResponseHead::parse(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX: a:b\r\n\r\n",
            "the server",
        )
        .unwrap();
        assert_eq!(head.status, 101);
        assert_eq!(head.reason, "Switching Protocols");
        assert_eq!(head.header("upgrade"), Some("websocket"));
        assert_eq!(head.header("x"), Some("a:b"));
    }

    #[test]
    fn what_is_not_an_http_head_is_a_protocol_error() {
        for bad in [
            &b""[..],
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc\r\n\r\n",
            b"HTTP/1.1 99999 Big\r\n\r\n",
            b"HTTP/1.1 42 Small\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
        ] {
            let err = ResponseHead::parse(bad, "the proxy").unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Protocol);
            assert!(err.to_string().contains("the proxy's answer"), "{err}");
        }
    }
}
