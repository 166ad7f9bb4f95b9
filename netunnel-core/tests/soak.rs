//! Soak: many short connections through one tunnel, 50 at a time, in two
//! rounds. After each round the server's and the client's open files come
//! back to where they were (once the surplus spare websockets have been let
//! go), and memory does not grow from one round to the next: the first
//! round may fill pools and allocator caches once, the second must not add.
//!
//! `NETUNNEL_SOAK_CONNECTIONS` sets the connections per round (default
//! 10,000; `NETUNNEL_SOAK_CONNECTIONS=50000 cargo test --release --test soak`
//! is the long run of 100,000).
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::Proc;

const CONCURRENT: usize = 50;
/// Files a process may hold past its starting point once idle: the spare
/// websocket a tunnel keeps, and one in flight.
const FD_SLACK: usize = 4;
/// Growth of resident memory allowed from one round to the next.
const ROUND_GROWTH: u64 = 4 << 20;

fn per_round() -> u64 {
    std::env::var("NETUNNEL_SOAK_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

/// `total` one-byte echoes through `entrance`, [`CONCURRENT`] at a time.
fn round(entrance: u16, total: u64) -> Duration {
    let left = Arc::new(AtomicU64::new(total));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let left = Arc::clone(&left);
            thread::spawn(move || {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let mut stream = support::connect(entrance);
                    stream.write_all(b"x").unwrap();
                    let mut back = [0u8; 1];
                    stream.read_exact(&mut back).unwrap();
                    assert_eq!(&back, b"x");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    started.elapsed()
}

/// Waits until the number of files `proc` holds has not changed for two
/// heartbeat intervals (surplus spares are let go after one); returns it.
fn steady(proc: &Proc) -> usize {
    let deadline = Instant::now() + support::WAIT;
    let mut count = proc.open_files();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) {
        assert!(Instant::now() < deadline, "the open files never settled");
        thread::sleep(Duration::from_millis(100));
        let now = proc.open_files();
        if now != count {
            count = now;
            since = Instant::now();
        }
    }
    count
}

/// Waits until `proc` holds at most `limit` files; panics with what it holds.
fn settles(name: &str, proc: &Proc, limit: usize) {
    let deadline = Instant::now() + support::WAIT;
    while proc.open_files() > limit {
        assert!(
            Instant::now() < deadline,
            "the {name} still holds {} files (at most {limit} expected)",
            proc.open_files()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn short_connections_leave_no_files_and_no_growing_memory_behind() {
    let echo = support::echo_server().to_string();
    // A short heartbeat, so surplus spares are let go within a second idle.
    let beat = ["--heartbeat-interval", "1"];
    let (server, port) = support::start_server(&beat);
    let mut client_args = vec!["--remote-port", echo.as_str()];
    client_args.extend_from_slice(&beat);
    let (client, entrance) = support::start_client(port, &client_args);
    round(entrance, 200);
    let files = [steady(&server), steady(&client)];

    let total = per_round();
    let mut memory = Vec::new();
    for _ in 0..2 {
        let took = round(entrance, total);
        eprintln!(
            "{total} connections in {took:?} ({:.0}/s)",
            total as f64 / took.as_secs_f64()
        );
        settles("server", &server, files[0] + FD_SLACK);
        settles("client", &client, files[1] + FD_SLACK);
        memory.push([server.rss(), client.rss()]);
    }
    eprintln!("open files before {files:?}; memory after each round {memory:?}");
    for (i, name) in ["server", "client"].iter().enumerate() {
        let (first, second) = (memory[0][i], memory[1][i]);
        assert!(
            second <= first + ROUND_GROWTH,
            "the {name} grew from {first} to {second} bytes in the second round"
        );
    }
}
