//! A well-behaved client's tunnel connection rate, measured alone and then
//! while the same server is attacked: heads that never finish, heads over
//! the limit, garbage bodies, hostile control websockets and a flood of
//! channels that are never connected. The rate under attack must stay above
//! half the rate without it.
//!
//! The attackers share the machine's cores with the server here, so each is
//! paced (a few hundred requests a second in all): what is measured is what
//! the server pays per attack, not who wins the CPU.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// One measuring slice; slices alone and under attack alternate, so both
/// see the same machine (loopback connections leave sockets in TIME_WAIT by
/// the ten thousand, and each new one makes the next connect slower).
const SLICE: Duration = Duration::from_millis(750);
/// Slices of each kind.
const SLICES: usize = 4;
/// Connections the well-behaved client keeps going at once.
const CLIENTS: usize = 4;
/// Pause between two attacks of one attacker.
const PACE: Duration = Duration::from_millis(10);
/// Slow heads held during an attack slice.
const HELD: usize = 300;

/// Connections through `entrance` in one [`SLICE`], each a one-byte echo.
fn connections(entrance: u16) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + SLICE;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                while Instant::now() < until {
                    let mut stream = support::connect(entrance);
                    stream.write_all(b"x").unwrap();
                    let mut back = [0u8; 1];
                    stream.read_exact(&mut back).unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    done.load(Ordering::Relaxed)
}

/// Runs `attack` every [`PACE`] on a thread of its own while `on`, until
/// `stop`; returns how many attacks it made.
fn attacker(
    on: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
    mut attack: impl FnMut() + Send + 'static,
) -> thread::JoinHandle<u64> {
    let (on, stop) = (Arc::clone(on), Arc::clone(stop));
    thread::spawn(move || {
        let mut count = 0;
        while !stop.load(Ordering::Relaxed) {
            if on.load(Ordering::Relaxed) {
                attack();
                count += 1;
            }
            thread::sleep(PACE);
        }
        count
    })
}

/// Sends `bytes` and reads whatever comes back until the server closes.
fn hit(port: u16, bytes: &[u8]) {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(bytes);
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
}

#[test]
fn a_well_behaved_client_keeps_over_half_its_rate_under_attack() {
    let echo = support::echo_server().to_string();
    let (_server, port) = support::start_server(&[]);
    let (_client, entrance) = support::start_client(port, &["--remote-port", &echo]);
    connections(entrance); // Warm up.
    let on = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // Connections holding half a head, opened when an attack slice starts
    // and dropped when it ends.
    let holder = {
        let (on, stop) = (Arc::clone(&on), Arc::clone(&stop));
        thread::spawn(move || {
            let mut held: Vec<std::net::TcpStream> = Vec::new();
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                if !on.load(Ordering::Relaxed) {
                    held.clear();
                }
                while on.load(Ordering::Relaxed) && held.len() < HELD {
                    match std::net::TcpStream::connect(("127.0.0.1", port)) {
                        Ok(mut stream) => {
                            let _ = stream.write_all(b"GET /version HTTP/1.1\r\nX: ");
                            held.push(stream);
                        }
                        Err(_) => break,
                    }
                }
                most = most.max(held.len());
                thread::sleep(Duration::from_millis(10));
            }
            most as u64
        })
    };
    let oversized = format!("GET /version HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let attackers = vec![
        attacker(&on, &stop, move || hit(port, oversized.as_bytes())),
        attacker(&on, &stop, move || {
            let body = "{\"exit_address\": [], \"reverse\": 7}";
            let request = format!(
                "POST /channels/1/tunnels HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            hit(port, request.as_bytes());
        }),
        attacker(&on, &stop, move || {
            hit(port, b"POST /channels HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 21\r\n\r\n{\"version\": \"2.0.0\"}\n");
        }),
        attacker(&on, &stop, move || {
            let (status, body) =
                support::http(port, "POST", "/channels", Some(r#"{"version": "2.0.0"}"#));
            let Some(id) = (status == 200)
                .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
                .flatten()
                .and_then(|created| created["channel_id"].as_u64())
            else {
                return;
            };
            // The channel flood may have pushed this one out already.
            let Ok(mut ws) = support::raw_ws::try_open(port, &format!("/channels/{id}/connect"))
            else {
                return;
            };
            let _ = ws.send(true, support::raw_ws::BINARY, b"\x05\x00\x00\x00junk");
            let _ = ws.close_reason();
        }),
    ];
    let (mut alone, mut attacked) = (0, 0);
    for _ in 0..SLICES {
        alone += connections(entrance);
        on.store(true, Ordering::Relaxed);
        attacked += connections(entrance);
        on.store(false, Ordering::Relaxed);
    }
    let seconds = SLICE.as_secs_f64() * SLICES as f64;
    let (alone, attacked) = (alone as f64 / seconds, attacked as f64 / seconds);
    stop.store(true, Ordering::Relaxed);
    let attacks: u64 = attackers.into_iter().map(|a| a.join().unwrap()).sum();
    let held = holder.join().unwrap();
    eprintln!(
        "connections/s alone {alone:.0}, under attack {attacked:.0} \
         ({attacks} attacks, {held} slow heads held)"
    );
    assert!(attacks > 100, "the attack did not run: {attacks}");
    assert!(
        attacked > alone / 2.0,
        "{attacked:.0} connections/s under attack against {alone:.0} alone"
    );
}
