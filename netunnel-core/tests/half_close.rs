//! TCP half-close between our own ends: a client that shuts down its writing
//! half (netcat-style uploads, HTTP/1.0 clients) still reads the whole reply
//! of a service that reads to end of file before it answers, forward and
//! reverse, every byte checked, and the tunnel goes on serving.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::thread;

/// A service that reads everything until end of file, then answers with the
/// byte count and the same bytes again, and closes.
fn read_all_then_answer() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || {
                let mut stream = stream;
                let mut got = Vec::new();
                if stream.read_to_end(&mut got).is_err() {
                    return;
                }
                let _ = stream.write_all(&(got.len() as u64).to_be_bytes());
                let _ = stream.write_all(&got);
            });
        }
    });
    port
}

/// Uploads `size` bytes through `entrance`, shuts down writing, and checks
/// the whole answer.
fn upload_then_read(entrance: u16, size: usize, seed: u64) {
    let data = support::pattern(size, seed);
    let mut stream = support::connect(entrance);
    stream.write_all(&data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(answer.len() >= 8, "answer of {} bytes", answer.len());
    let count = u64::from_be_bytes(answer[..8].try_into().unwrap());
    assert_eq!(count, size as u64, "the service saw another length");
    assert_eq!(answer.len() - 8, size, "the answer was cut");
    assert_eq!(
        support::checksum(&answer[8..]),
        support::checksum(&data),
        "bytes changed"
    );
}

#[test]
fn a_forward_tunnel_carries_a_half_close_end_to_end() {
    let service = read_all_then_answer().to_string();
    let (_server, port) = support::start_server(&[]);
    let (_client, entrance) = support::start_client(port, &["--remote-port", &service]);
    for (round, size) in [0, 1, 70_000, 3 << 20].into_iter().enumerate() {
        upload_then_read(entrance, size, round as u64);
    }
    // Several at once, on websockets reused from the rounds above.
    let workers: Vec<_> = (0..8)
        .map(|seed| thread::spawn(move || upload_then_read(entrance, 200_000, seed)))
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn a_reverse_tunnel_carries_a_half_close_end_to_end() {
    let service = read_all_then_answer().to_string();
    let (_server, port) = support::start_server(&[]);
    let (_client, entrance) = support::start_client(port, &["--reverse", "--local-port", &service]);
    for (round, size) in [0, 1, 70_000, 3 << 20].into_iter().enumerate() {
        upload_then_read(entrance, size, 10 + round as u64);
    }
    let workers: Vec<_> = (0..8)
        .map(|seed| thread::spawn(move || upload_then_read(entrance, 200_000, 20 + seed)))
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

/// With a NETunnel 1.0.13 server the connection ends in both directions at
/// the half-close, as 1.0.x always did: the reply does not come, and the
/// connection does not hang either.
#[test]
fn with_a_1_0_x_server_a_half_close_ends_the_connection_as_before() {
    let service = read_all_then_answer().to_string();
    let (_server, port) = support::netunnel1::start_python_server();
    let (_client, entrance) = support::start_client(port, &["--remote-port", &service]);
    let mut stream = support::connect(entrance);
    stream.write_all(b"upload").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{} bytes came back", answer.len());
}

/// The service ends its side first and the client goes on sending for many
/// heartbeat intervals: the half-closed connection is kept alive by the
/// heartbeat (pongs are still read), and every byte arrives.
#[test]
fn a_connection_half_closed_for_many_heartbeats_carries_everything() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let service = listener.local_addr().unwrap().port().to_string();
    let received = Arc::new(AtomicU64::new(u64::MAX));
    let counted = Arc::clone(&received);
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"ready").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        counted.store(got.len() as u64, Ordering::SeqCst);
    });
    let beat = ["--heartbeat-interval", "0.2"];
    let (_server, port) = support::start_server(&beat);
    let mut args = vec!["--remote-port", service.as_str()];
    args.extend_from_slice(&beat);
    let (_client, entrance) = support::start_client(port, &args);
    let mut stream = support::connect(entrance);
    let mut greeting = Vec::new();
    stream.read_to_end(&mut greeting).unwrap();
    assert_eq!(greeting, b"ready");
    // Ten heartbeat intervals and more, sending all along.
    let chunk = [7u8; 1000];
    for _ in 0..30 {
        stream.write_all(&chunk).unwrap();
        thread::sleep(std::time::Duration::from_millis(100));
    }
    stream.shutdown(Shutdown::Write).unwrap();
    support::wait_until("the service to count the upload", || {
        received.load(Ordering::SeqCst) != u64::MAX
    });
    assert_eq!(received.load(Ordering::SeqCst), 30_000);
}
