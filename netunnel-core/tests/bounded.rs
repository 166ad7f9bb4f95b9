//! Bounded buffers: when one end of a connection stops reading, the tunnel
//! stops taking bytes from the other end, instead of holding them in memory.
//! A service offers a gigabyte to a reader that does not read: what the
//! service manages to send stays small, and so does the memory of the
//! server and the client; once the reader reads, every byte arrives.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::Proc;

const GIGABYTE: u64 = 1 << 30;
/// What a stalled transfer may have sent: the kernel's socket buffers on the
/// four sockets in the way (autotuned up to a few MiB each) plus the
/// tunnel's own write buffers.
const IN_FLIGHT: u64 = 48 << 20;
/// How much a process may grow while the transfer is stalled (measured:
/// under 0.3 MiB, with 15 to 17 MiB stalled in the kernel).
const GROWTH: u64 = 8 << 20;

/// The byte at `offset` of the transfer.
fn byte_at(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// A service that writes [`GIGABYTE`] bytes to every connection (after
/// reading one byte, so the sending side needs no spare to be pushed); the
/// counter tells how many it managed to hand to the kernel.
fn firehose() -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                let mut stream = stream;
                let mut first = [0u8; 1];
                if stream.read_exact(&mut first).is_err() {
                    return;
                }
                let mut chunk = vec![0u8; 64 << 10];
                let mut offset = 0;
                while offset < GIGABYTE {
                    for (i, byte) in chunk.iter_mut().enumerate() {
                        *byte = byte_at(offset + i as u64);
                    }
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                    offset += chunk.len() as u64;
                    counter.store(offset, Ordering::Relaxed);
                }
            });
        }
    });
    (port, sent)
}

/// Waits until `sent` has not moved for a second; returns its value.
fn stalled(sent: &AtomicU64) -> u64 {
    let deadline = Instant::now() + support::WAIT;
    let mut last = sent.load(Ordering::Relaxed);
    loop {
        thread::sleep(Duration::from_secs(1));
        let now = sent.load(Ordering::Relaxed);
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "the sender never stalled");
        last = now;
    }
}

/// Reads the whole gigabyte from `stream`, checking every byte.
fn read_all(stream: &mut std::net::TcpStream) {
    let mut buf = vec![0u8; 256 << 10];
    let mut offset = 0u64;
    while offset < GIGABYTE {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the transfer ended at {offset} bytes");
        // One byte in every 4 KiB is enough to see shifted, lost or
        // repeated data; every byte would cost more than the transfer.
        for i in (0..n).step_by(4093) {
            assert_eq!(
                buf[i],
                byte_at(offset + i as u64),
                "at {}",
                offset + i as u64
            );
        }
        assert_eq!(buf[n - 1], byte_at(offset + n as u64 - 1));
        offset += n as u64;
    }
}

/// Runs the gigabyte through `entrance` with a reader that first does not
/// read; `ends` are the server and client processes.
fn check(entrance: u16, sent: &AtomicU64, ends: [&Proc; 2]) {
    // Warm up: one connection, so pools and buffers exist before the baseline.
    drop(support::connect(entrance));
    thread::sleep(Duration::from_millis(300));
    let before = ends.map(|p| p.rss());
    let mut reader = support::connect(entrance);
    reader.write_all(b"x").unwrap();
    let taken = stalled(sent);
    let during = ends.map(|p| p.rss());
    eprintln!("stalled at {taken} bytes; rss before {before:?} during {during:?}");
    assert!(taken < IN_FLIGHT, "{taken} bytes left the service");
    for (name, (b, d)) in ["server", "client"]
        .iter()
        .zip(before.iter().zip(during.iter()))
    {
        assert!(
            d.saturating_sub(*b) < GROWTH,
            "the {name} grew from {b} to {d} bytes while {taken} bytes were in flight"
        );
    }
    read_all(&mut reader);
}

#[test]
fn a_forward_tunnel_holds_no_more_than_its_buffers_for_a_reader_that_does_not_read() {
    let (service, sent) = firehose();
    let (server, port) = support::start_server(&[]);
    let (client, entrance) = support::start_client(port, &["--remote-port", &service.to_string()]);
    check(entrance, &sent, [&server, &client]);
}

#[test]
fn a_reverse_tunnel_holds_no_more_than_its_buffers_for_a_reader_that_does_not_read() {
    let (service, sent) = firehose();
    let (server, port) = support::start_server(&[]);
    let (client, entrance) =
        support::start_client(port, &["--reverse", "--local-port", &service.to_string()]);
    check(entrance, &sent, [&server, &client]);
}
