//! Request heads over the size limit (431), heads and bodies that dribble in
//! (408 and 400 once the request timeout passes), and many such clients at
//! once: the server answers each, holds no more than a head's worth for
//! any, and goes on serving everyone else.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use async_std::task::block_on;
use netunnel_core::{Server, ServerOptions};
use support::library::deadline;

/// The request timeout of these tests' servers.
const PATIENCE: Duration = Duration::from_secs(1);

fn server() -> Server {
    let options = ServerOptions::new()
        .port(0)
        .stateless()
        .environment(false)
        .request_timeout(PATIENCE);
    block_on(deadline(Server::start(options))).unwrap()
}

/// Sends `request` and reads the answer to its end; returns status, body.
fn exchange(port: u16, request: &[u8]) -> (u16, String) {
    let mut stream = support::connect(port);
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    support::parse_answer(&String::from_utf8_lossy(&answer))
}

fn version_request(extra_headers: &str) -> Vec<u8> {
    format!("GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra_headers}\r\n")
        .into_bytes()
}

#[test]
fn heads_over_the_limit_are_answered_431_and_those_under_it_served() {
    let server = server();
    let port = server.local_addr().port();
    // Just under 8 KiB: served.
    let filler = "a".repeat(8000);
    let (status, body) = exchange(port, &version_request(&format!("X-Filler: {filler}\r\n")));
    assert_eq!(status, 200, "{body}");
    // One long header line.
    let filler = "a".repeat(9000);
    let (status, body) = exchange(port, &version_request(&format!("X-Filler: {filler}\r\n")));
    assert_eq!(status, 431, "{body}");
    assert!(body.contains(r#""kind":"too_large""#), "{body}");
    // Too many header lines, each short.
    let many: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
    let (status, body) = exchange(port, &version_request(&many));
    assert_eq!(status, 431, "{body}");
    // A megabyte without a line end is cut off after the limit, not buffered.
    let endless = vec![b'a'; 1 << 20];
    let (status, _) = exchange(port, &endless);
    assert_eq!(status, 431);
    let (status, body) = support::http(port, "GET", "/version", None);
    assert_eq!(status, 200, "{body}");
    block_on(server.stop());
}

#[test]
fn a_head_that_dribbles_in_is_answered_408_at_the_timeout() {
    let server = server();
    let port = server.local_addr().port();
    let mut stream = support::connect(port);
    let started = Instant::now();
    stream.write_all(b"GET /version HTTP/1.1\r\nHo").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
    assert!(
        took >= PATIENCE && took < PATIENCE * 3,
        "answered after {took:?}"
    );
    block_on(server.stop());
}

#[test]
fn a_body_that_dribbles_in_is_answered_400_at_the_timeout() {
    let server = server();
    let port = server.local_addr().port();
    let mut stream = support::connect(port);
    let started = Instant::now();
    stream
        .write_all(b"POST /channels HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"vers")
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    let took = started.elapsed();
    assert_eq!(&head, b"HTTP/1.1 400");
    assert!(
        took >= PATIENCE && took < PATIENCE * 3,
        "answered after {took:?}"
    );
    assert!(server.channels().is_empty());
    block_on(server.stop());
}

#[test]
fn many_slow_clients_do_not_stop_the_others() {
    let server = server();
    let port = server.local_addr().port();
    // 300 connections that send half a head and wait.
    let slow: Vec<_> = (0..300)
        .map(|_| {
            let mut stream = support::connect(port);
            stream.write_all(b"GET /version HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    // Meanwhile others are answered at once.
    for _ in 0..20 {
        let started = Instant::now();
        let (status, body) = support::http(port, "GET", "/version", None);
        assert_eq!(status, 200, "{body}");
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    // And each slow one is answered 408 and closed.
    for mut stream in slow {
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    block_on(server.stop());
}
