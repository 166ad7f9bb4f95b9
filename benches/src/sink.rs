//! The service's side of an upload: read the framed pattern stream, check
//! every byte, answer with an [`UploadReport`] (see [`protocol`]).

use anyhow::Result;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;

use crate::pattern;
use crate::protocol::{UploadReport, FRAME_HEADER};

/// Reads frames from `head` (bytes already read after the mode byte) then from
/// `stream` until an empty frame, and sends the report.
pub async fn serve(stream: TcpStream, head: &[u8]) -> Result<()> {
    let mut input = head.chain(&stream);
    let mut buffer = vec![0u8; pattern::CHUNK];
    let mut received = 0u64;
    let mut first_bad = None;
    loop {
        let mut header = [0u8; FRAME_HEADER];
        input.read_exact(&mut header).await?;
        let mut left = u32::from_le_bytes(header) as usize;
        if left == 0 {
            break;
        }
        while left > 0 {
            let want = left.min(buffer.len());
            let read = input.read(&mut buffer[..want]).await?;
            if read == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            let data = &buffer[..read];
            if first_bad.is_none() && !pattern::matches(received, data) {
                first_bad = Some(received + first_difference(received, data) as u64);
            }
            received += read as u64;
            left -= read;
        }
    }
    let report = UploadReport {
        received,
        first_bad,
    };
    (&stream).write_all(&report.encode()).await?;
    (&stream).flush().await?;
    Ok(())
}

/// Index of the first byte of `data` (at most [`pattern::CHUNK`] long) that
/// differs from the pattern at `offset`.
fn first_difference(offset: u64, data: &[u8]) -> usize {
    let want = pattern::slice(offset, data.len());
    data.iter()
        .zip(want)
        .position(|(got, want)| got != want)
        .unwrap_or(0)
}
