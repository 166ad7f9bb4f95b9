//! The client side of the websocket upgrade, done by hand as the server side
//! is (see `http_server.rs`). tungstenite's own client handshake hands its 4 KiB
//! response buffer on to the websocket as its read buffer; a tunnel keeps one
//! websocket per held connection, so ours start with the 2 KiB of
//! [`ws::config`] instead.

use async_tungstenite::tungstenite::handshake::client::generate_key;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use futures::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::Headers;
use crate::error::{Error, Result};
use crate::runtime::BoxConn;
use crate::wire::ResponseHead;
use crate::ws::Upgraded;

/// Longest response head we accept.
const MAX_HEAD: usize = 16 * 1024;
/// Most of a refusal's body we read, to show it.
const MAX_ERROR_BODY: usize = 4 * 1024;
/// Bytes read at a time while looking for the end of the head.
const READ_CHUNK: usize = 512;

/// Upgrades `conn` to a websocket: `GET target` with `headers` (from the auth
/// plugin) to `authority` (the `Host` header). `path` names the route in errors.
pub(super) async fn upgrade(
    mut conn: BoxConn,
    authority: &str,
    target: &str,
    path: &str,
    headers: &Headers,
) -> Result<Upgraded> {
    let key = generate_key();
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
    );
    // Checked by `auth::headers_for`, the only source of headers here.
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let io = |err| Error::io(format!("websocket handshake for {path}"), err);
    conn.write_all(request.as_bytes()).await.map_err(io)?;
    conn.flush().await.map_err(io)?;
    let (head, rest) = read_head(&mut conn).await.map_err(io)?;
    let head = ResponseHead::parse(&head, "the server")?;
    if head.status != 101 {
        let body = read_body(&mut conn, rest, &head).await;
        let body = String::from_utf8_lossy(&body);
        let body = body.trim();
        return Err(Error::Remote {
            status: Some(head.status),
            message: format!(
                "the server refused the websocket {path}: HTTP {} {}{}",
                head.status,
                head.reason,
                if body.is_empty() {
                    String::new()
                } else {
                    format!(" {body}")
                }
            ),
            kind: None,
        });
    }
    let upgraded = head
        .header("Upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let connection = head.header("Connection").is_some_and(|v| {
        v.split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    });
    let accepted = head.header("Sec-WebSocket-Accept") == Some(&derive_accept_key(key.as_bytes()));
    if !(upgraded && connection && accepted) {
        return Err(Error::Protocol(format!(
            "the server's answer to the websocket {path} is not a websocket upgrade"
        )));
    }
    Ok(Upgraded::new(conn, rest))
}

/// Reads up to the end of the response head; returns the head and whatever
/// was read past it (the first websocket bytes, or the start of a body).
async fn read_head(conn: &mut BoxConn) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let searched_from = buffer.len().saturating_sub(3);
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            let end = searched_from + end + 4;
            let rest = buffer.split_off(end);
            return Ok((buffer, rest));
        }
        if buffer.len() > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "response head too long",
            ));
        }
    }
}

/// The start of a refusal's body, at most [`MAX_ERROR_BODY`] bytes: up to its
/// `Content-Length`, or only what already arrived with the head (a server that
/// keeps the connection open must not make us wait); what cannot be read is
/// left out.
async fn read_body(conn: &mut BoxConn, mut body: Vec<u8>, head: &ResponseHead) -> Vec<u8> {
    let Some(length) = head
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok())
    else {
        body.truncate(MAX_ERROR_BODY);
        return body;
    };
    let limit = length.min(MAX_ERROR_BODY);
    let mut chunk = [0u8; READ_CHUNK];
    while body.len() < limit {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(limit);
    body
}
