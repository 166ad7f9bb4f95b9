//! A websocket client that writes frames byte by byte, so tests can send what
//! no well-behaved library would: oversized frames, endless fragments,
//! documents that do not parse.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Frame opcodes.
pub const CONTINUATION: u8 = 0x0;
/// A text frame.
pub const TEXT: u8 = 0x1;
/// A binary frame.
pub const BINARY: u8 = 0x2;
/// A close frame.
pub const CLOSE: u8 = 0x8;

/// An upgraded connection to a server.
pub struct RawWs {
    /// The socket, for writing frames.
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

/// Upgrades `GET path` on 127.0.0.1:`port`; panics unless the answer is 101.
pub fn open(port: u16, path: &str) -> RawWs {
    try_open(port, path).unwrap_or_else(|answer| panic!("no upgrade: {answer:?}"))
}

/// Upgrades `GET path` on 127.0.0.1:`port`; the answer's first line unless
/// it is 101.
pub fn try_open(port: u16, path: &str) -> Result<RawWs, String> {
    let mut stream = super::connect(port);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|err| err.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|err| err.to_string())?);
    let mut status = String::new();
    reader
        .read_line(&mut status)
        .map_err(|err| err.to_string())?;
    if !status.starts_with("HTTP/1.1 101") {
        return Err(status);
    }
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|err| err.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    Ok(RawWs { stream, reader })
}

/// The header of a masked client frame carrying `len` bytes.
pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    // A zero mask: the payload goes as it is.
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

impl RawWs {
    /// Sends one frame; an error means the server has closed the socket.
    pub fn send(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = header(fin, opcode, payload.len() as u64);
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }

    /// Reads frames from the server until its close frame; returns the close
    /// code and reason, or `None` if the socket ended without one.
    pub fn close_reason(&mut self) -> Option<(u16, String)> {
        loop {
            let (opcode, payload) = self.frame()?;
            if opcode == CLOSE {
                if payload.len() < 2 {
                    return Some((1005, String::new()));
                }
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
            }
        }
    }

    /// The payload of the next binary frame that carries bytes (skipping
    /// control frames and empty ones).
    pub fn data(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.frame()? {
                (BINARY, payload) if !payload.is_empty() => return Some(payload),
                (CLOSE, _) => return None,
                _ => {}
            }
        }
    }

    /// Reads one (unmasked, server) frame: its opcode and payload.
    pub fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.reader.read_exact(&mut head).ok()?;
        let len = match head[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                self.reader.read_exact(&mut ext).ok()?;
                u64::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                self.reader.read_exact(&mut ext).ok()?;
                u64::from_be_bytes(ext)
            }
            short => u64::from(short),
        };
        let mut payload = vec![0u8; usize::try_from(len).ok()?];
        self.reader.read_exact(&mut payload).ok()?;
        Some((head[0] & 0x0f, payload))
    }
}
