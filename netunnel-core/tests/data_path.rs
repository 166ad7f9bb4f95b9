//! The data path under time: tunnels that sit idle past the heartbeat, reused
//! websockets, services that speak first or close first, applications that
//! close first, bulk transfers and a seeded random schedule. Every scenario runs
//! on forward and reverse tunnels with our client and server at both ends and in
//! both mixed pairings with NETunnel 1.0.13, over real processes and sockets, with
//! a 1 s heartbeat (`default_heartbeat` keeps the real 20 s).
//!
//! Tests with NETunnel 1.0.13 or OpenSSH are ignored by default; `scripts/test`
//! installs both and runs them (see `interop.rs` for running them by hand).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use support::netunnel1::{
    start_python_client, start_python_client_with_heartbeat, start_python_server,
};
use support::services::{self, DOWNLOAD, ECHO, UPLOAD};
use support::sshd::Sshd;
use support::{checksum, connect, free_port, pattern, start_client, start_server, Proc};

/// The heartbeat of every end in these tests, in seconds.
const HEARTBEAT: &str = "1";
/// Idle long enough for pings to cross (a ping after 1 s, its pong, and more).
const PAST_HEARTBEAT: Duration = Duration::from_millis(2500);

/// Whose client and whose server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    Ours,
    OurClientTheirServer,
    TheirClientOurServer,
}

/// Which side listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// The client listens, the server connects to the service.
    Forward,
    /// The server listens, the client connects to the service.
    Reverse,
}

/// A server, a client, and the tunnel between them.
struct Tunnel {
    server: Proc,
    client: Proc,
    /// Where applications connect.
    entrance: u16,
}

impl Tunnel {
    /// A tunnel to `service` with the tests' 1 s heartbeat.
    fn open(ends: Ends, way: Way, service: u16) -> Tunnel {
        Tunnel::open_with(ends, way, service, Some(HEARTBEAT))
    }

    /// A tunnel to `service`; `heartbeat` `None` keeps every side's default.
    fn open_with(ends: Ends, way: Way, service: u16, heartbeat: Option<&str>) -> Tunnel {
        let mut ours_hb: Vec<&str> = match heartbeat {
            Some(seconds) => vec!["--heartbeat-interval", seconds],
            None => Vec::new(),
        };
        ours_hb.push("--debug");
        let (server, server_port) = match ends {
            Ends::OurClientTheirServer => start_python_server(),
            _ => start_server(&ours_hb),
        };
        let service = service.to_string();
        let remote = free_port().to_string();
        let mut args: Vec<&str> = match way {
            Way::Forward => vec!["--remote-port", &service],
            Way::Reverse => vec!["-r", "--local-port", &service, "--remote-port", &remote],
        };
        let (client, entrance) = match (ends, heartbeat) {
            (Ends::TheirClientOurServer, Some(seconds)) => {
                start_python_client_with_heartbeat(server_port, seconds, &args)
            }
            (Ends::TheirClientOurServer, None) => start_python_client(server_port, &args),
            _ => {
                args.extend_from_slice(&ours_hb);
                start_client(server_port, &args)
            }
        };
        Tunnel {
            server,
            client,
            entrance,
        }
    }

    /// Open files of the server and of the client.
    fn fds(&self) -> (usize, usize) {
        (fds(self.server.child.id()), fds(self.client.child.id()))
    }

    /// Waits until neither process's open files changed for longer than the
    /// heartbeat interval (the time a surplus spare lingers): spares being
    /// opened, handed back or let go have settled.
    fn settled_fds(&self) -> (usize, usize) {
        let deadline = Instant::now() + support::WAIT;
        let mut last = self.fds();
        let mut same = 0;
        while same < 15 {
            assert!(Instant::now() < deadline, "open files never settled");
            thread::sleep(Duration::from_millis(100));
            let now = self.fds();
            same = if now == last { same + 1 } else { 0 };
            last = now;
        }
        last
    }

    /// Asserts that both processes still run.
    fn assert_running(&mut self) {
        for (what, proc) in [("server", &mut self.server), ("client", &mut self.client)] {
            if let Some(status) = proc.child.try_wait().expect("try_wait") {
                let (_, lines) = proc.wait_exit();
                panic!("the {what} exited ({status}):\n{}", lines.join("\n"));
            }
        }
    }
}

impl Drop for Tunnel {
    /// On a failure, shows what both ends logged (ours at debug level).
    fn drop(&mut self) {
        if thread::panicking() {
            let server = self.server.drain().join("\n");
            let client = self.client.drain().join("\n");
            eprintln!("--- server output:\n{server}\n--- client output:\n{client}");
        }
    }
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(Iterator::count)
        .unwrap_or_else(|err| panic!("cannot list the open files of {pid}: {err}"))
}

/// Reads one `\r\n`-terminated line.
fn read_line(stream: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    stream.read_line(&mut line).expect("read a line");
    line
}

/// Runs `scenario` on every pairing of ends, forward and reverse.
macro_rules! on_every_pairing {
    ($scenario:ident, $($ignore_ours:meta)?) => {
        mod $scenario {
            use super::{Ends, Way};
            $(#[$ignore_ours])?
            #[test]
            fn ours_forward() {
                super::$scenario(Ends::Ours, Way::Forward)
            }
            $(#[$ignore_ours])?
            #[test]
            fn ours_reverse() {
                super::$scenario(Ends::Ours, Way::Reverse)
            }
            #[test]
            #[ignore = "needs NETunnel 1.0.13: run scripts/test"]
            fn our_client_their_server_forward() {
                super::$scenario(Ends::OurClientTheirServer, Way::Forward)
            }
            #[test]
            #[ignore = "needs NETunnel 1.0.13: run scripts/test"]
            fn our_client_their_server_reverse() {
                super::$scenario(Ends::OurClientTheirServer, Way::Reverse)
            }
            #[test]
            #[ignore = "needs NETunnel 1.0.13: run scripts/test"]
            fn their_client_our_server_forward() {
                super::$scenario(Ends::TheirClientOurServer, Way::Forward)
            }
            #[test]
            #[ignore = "needs NETunnel 1.0.13: run scripts/test"]
            fn their_client_our_server_reverse() {
                super::$scenario(Ends::TheirClientOurServer, Way::Reverse)
            }
        }
    };
}

on_every_pairing!(ssh, ignore = "needs OpenSSH's sshd: run scripts/test");
on_every_pairing!(speaks_first,);
on_every_pairing!(greets_and_closes,);
on_every_pairing!(application_closes_first,);
on_every_pairing!(bulk_over_reused_websockets,);
on_every_pairing!(random_schedule,);

/// A real OpenSSH server through the tunnel: at once, after idle, many in a
/// row, many at once, and a session idle in the middle.
fn ssh(ends: Ends, way: Way) {
    let sshd = Sshd::start();
    let mut tunnel = Tunnel::open(ends, way, sshd.port);
    let port = tunnel.entrance;
    let login = &sshd.login;
    assert_eq!(login.run(port, "echo at once"), "at once\n");
    thread::sleep(PAST_HEARTBEAT);
    assert_eq!(login.run(port, "echo after idle"), "after idle\n");
    // Enough in a row for websockets to be reused several times.
    for i in 0..8 {
        assert_eq!(login.run(port, &format!("echo {i}")), format!("{i}\n"));
    }
    thread::sleep(PAST_HEARTBEAT);
    thread::scope(|scope| {
        let runs: Vec<_> = (0..6)
            .map(|i| scope.spawn(move || login.run(port, &format!("echo together {i}"))))
            .collect();
        for (i, run) in runs.into_iter().enumerate() {
            let out = run.join().expect("ssh thread");
            assert_eq!(out, format!("together {i}\n"));
        }
    });
    // A session that sits idle past the heartbeat in the middle.
    let mut session = login.session(port, "echo ready; read line; echo \"got $line\"");
    assert_eq!(session.line(), "ready");
    thread::sleep(PAST_HEARTBEAT);
    session.send("after idle");
    assert_eq!(session.line(), "got after idle");
    session.finish();
    tunnel.assert_running();
}

/// A service that greets first: the greeting arrives first and intact, at
/// once and after idle, and the service sees one connection per application
/// connection (the greeting carries its number), none while idle.
fn speaks_first(ends: Ends, way: Way) {
    let service = services::greeter();
    let mut tunnel = Tunnel::open(ends, way, service.port);
    let mut made = 0;
    for round in 0..3 {
        if round > 0 {
            thread::sleep(PAST_HEARTBEAT);
        }
        assert_eq!(
            service.connections(),
            made,
            "round {round}: the service was connected to with no application"
        );
        for _ in 0..3 {
            let stream = connect(tunnel.entrance);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            assert_eq!(read_line(&mut reader), services::greeting(made + 1));
            let mut writer = stream;
            writer.write_all(b"HELO tunnel\r\n").expect("write");
            assert_eq!(read_line(&mut reader), "HELO tunnel\r\n");
            writer.shutdown(Shutdown::Write).expect("shutdown");
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).expect("read to EOF");
            assert!(rest.is_empty(), "extra bytes after the echo: {rest:?}");
            made += 1;
        }
        assert_eq!(service.connections(), made);
    }
    support::wait_until("the service to see every EOF", || service.eofs() == made);
    tunnel.assert_running();
}

/// A service that sends its greeting and closes at once: the application gets
/// the greeting, then EOF.
fn greets_and_closes(ends: Ends, way: Way) {
    let service = services::greet_and_close();
    let mut tunnel = Tunnel::open(ends, way, service.port);
    let mut made = 0;
    for round in 0..2 {
        if round > 0 {
            thread::sleep(PAST_HEARTBEAT);
        }
        for _ in 0..5 {
            let mut stream = connect(tunnel.entrance);
            let mut all = String::new();
            stream.read_to_string(&mut all).expect("read to EOF");
            made += 1;
            assert_eq!(all, format!("bye {made}\r\n"), "round {round}");
        }
    }
    assert_eq!(service.connections(), made);
    tunnel.assert_running();
}

/// Applications that close before the service answered: the service sees EOF
/// for each, and both processes' open files come back to where they were.
fn application_closes_first(ends: Ends, way: Way) {
    let service = services::scripted();
    let mut tunnel = Tunnel::open(ends, way, service.port);
    // One full connection first, so spares are where they stay.
    download(tunnel.entrance, 1000, 1);
    let before = tunnel.settled_fds();
    let early = 10;
    for i in 0..early {
        let mut stream = connect(tunnel.entrance);
        // Half of them send part of a request first.
        if i % 2 == 1 {
            stream.write_all(&[ECHO, 0, 0]).expect("write");
        }
        drop(stream);
    }
    support::wait_until("the service to see each early close as EOF", || {
        service.eofs() == early
    });
    assert_eq!(service.connections(), early + 1);
    support::wait_until("the open files to come back", || tunnel.fds() == before);
    tunnel.assert_running();
}

/// `DOWNLOAD`s `len` bytes and checks them and the EOF after them.
fn download(port: u16, len: usize, seed: u64) {
    let mut stream = connect(port);
    stream
        .write_all(&services::request(DOWNLOAD, len as u64, seed))
        .expect("request");
    let mut all = Vec::with_capacity(len);
    stream.read_to_end(&mut all).expect("read to EOF");
    assert_eq!(all.len(), len, "download of {len} bytes (seed {seed})");
    assert!(
        all == pattern(len, seed),
        "downloaded bytes changed (seed {seed})"
    );
}

/// `UPLOAD`s `len` bytes, in chunks of `chunk`, and checks the service's checksum.
fn upload(port: u16, len: usize, seed: u64, pauses: &[Duration]) {
    let data = pattern(len, seed);
    let mut stream = connect(port);
    stream
        .write_all(&services::request(UPLOAD, len as u64, seed))
        .expect("request");
    let parts = pauses.len() + 1;
    let size = len.div_ceil(parts).max(1);
    for (i, chunk) in data.chunks(size).enumerate() {
        stream.write_all(chunk).expect("upload");
        if let Some(pause) = pauses.get(i) {
            thread::sleep(*pause);
        }
    }
    let mut sum = [0u8; 8];
    stream.read_exact(&mut sum).expect("read checksum");
    assert_eq!(
        u64::from_be_bytes(sum),
        checksum(&data),
        "uploaded bytes changed (seed {seed})"
    );
}

/// Sends `len` bytes to the echo command while reading them back, then
/// closes. (NETunnel has no half-close: the application's EOF ends the
/// connection both ways, so every byte is read back before it.)
fn echo(port: u16, len: usize, seed: u64, pauses: &[Duration]) {
    let data = pattern(len, seed);
    let stream = connect(port);
    let mut writer = stream.try_clone().expect("clone");
    writer
        .write_all(&services::request(ECHO, 0, seed))
        .expect("request");
    let pauses = pauses.to_vec();
    let sent = data.clone();
    let sender = thread::spawn(move || {
        let size = sent.len().div_ceil(pauses.len() + 1).max(1);
        for (i, chunk) in sent.chunks(size).enumerate() {
            writer.write_all(chunk)?;
            if let Some(pause) = pauses.get(i) {
                thread::sleep(*pause);
            }
        }
        Ok::<_, std::io::Error>(())
    });
    let mut back = vec![0u8; len];
    let mut reader = stream;
    reader
        .read_exact(&mut back)
        .unwrap_or_else(|err| panic!("echo of {len} bytes (seed {seed}): {err}"));
    sender.join().expect("sender").expect("send");
    assert!(back == data, "echoed bytes changed (seed {seed})");
    reader.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("EOF after the echo");
    assert!(rest.is_empty(), "bytes after the echo (seed {seed})");
}

/// A checked bulk transfer each way and both at once, on websockets that have
/// carried connections before, at once and after idle.
fn bulk_over_reused_websockets(ends: Ends, way: Way) {
    let service = services::scripted();
    let mut tunnel = Tunnel::open(ends, way, service.port);
    const BULK: usize = 8 << 20;
    for round in 0..2u64 {
        if round > 0 {
            thread::sleep(PAST_HEARTBEAT);
        }
        upload(tunnel.entrance, BULK, 10 + round, &[]);
        download(tunnel.entrance, BULK, 20 + round);
        echo(tunnel.entrance, BULK / 2, 30 + round, &[]);
    }
    assert_eq!(service.connections(), 6);
    tunnel.assert_running();
}

/// A small, seedable generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

/// The seed of [`random_schedule`]: `NETUNNEL_TEST_SEED`, or the clock.
fn seed() -> u64 {
    std::env::var("NETUNNEL_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |now| now.as_nanos() as u64)
                | 1
        })
}

/// Many connections on one tunnel, several at a time, each doing one random
/// thing after a random idle: an echo with pauses past the heartbeat in the
/// middle, a download, an upload, or closing before the service answered.
/// Every byte is checked and the service sees exactly one connection each.
fn random_schedule(ends: Ends, way: Way) {
    let seed = seed();
    eprintln!("random_schedule({ends:?}, {way:?}): NETUNNEL_TEST_SEED={seed}");
    let service = services::scripted();
    let mut tunnel = Tunnel::open(ends, way, service.port);
    let port = tunnel.entrance;
    const WORKERS: u64 = 4;
    const EACH: u64 = 6;
    let started = Instant::now();
    let eofs = thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                scope.spawn(move || {
                    let mut rng = Rng(seed.wrapping_add(worker.wrapping_mul(0x9e37_79b9)) | 1);
                    let (mut early, mut echoes) = (0, 0);
                    for i in 0..EACH {
                        let tag = seed ^ (worker << 32 | i);
                        // Idle first: mostly short, sometimes past the heartbeat.
                        let idle = if rng.below(4) == 0 {
                            Duration::from_millis(1100 + rng.below(900))
                        } else {
                            rng.millis(200)
                        };
                        thread::sleep(idle);
                        let len = rng.below(3 << 20) as usize;
                        let pauses: Vec<Duration> =
                            (0..rng.below(3)).map(|_| rng.millis(1400)).collect();
                        match rng.below(4) {
                            0 => {
                                echo(port, len / 4, tag, &pauses);
                                echoes += 1;
                            }
                            1 => download(port, len, tag),
                            2 => upload(port, len, tag, &pauses),
                            _ => {
                                let mut stream = connect(port);
                                let sent = rng.below(17) as usize;
                                let head = services::request(ECHO, 0, tag);
                                stream.write_all(&head[..sent]).expect("partial request");
                                if rng.below(2) == 0 {
                                    let _ = stream.shutdown(Shutdown::Both);
                                }
                                early += 1;
                            }
                        }
                    }
                    (early, echoes)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("worker (seed printed above)"))
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    });
    let total = (WORKERS * EACH) as usize;
    let (early, echoes) = eofs;
    // Each early close and each echo ends with the service seeing EOF.
    support::wait_until("the service to see every EOF", || {
        service.eofs() == early + echoes && service.connections() >= total
    });
    // Then idle past the heartbeat: still exactly one connection each.
    thread::sleep(PAST_HEARTBEAT);
    assert_eq!(
        service.connections(),
        total,
        "one service connection per application connection (NETUNNEL_TEST_SEED={seed})"
    );
    eprintln!(
        "random_schedule: {total} connections in {:?}",
        started.elapsed()
    );
    tunnel.assert_running();
}

/// The real 20 s heartbeat: a service that speaks first, through our tunnels
/// both ways and 1.0.13's client on our server, after 25 s idle.
#[test]
#[ignore = "needs NETunnel 1.0.13: run scripts/test"]
fn default_heartbeat() {
    let cases = [
        (Ends::Ours, Way::Forward),
        (Ends::Ours, Way::Reverse),
        (Ends::TheirClientOurServer, Way::Forward),
    ];
    thread::scope(|scope| {
        for (ends, way) in cases {
            scope.spawn(move || {
                let service = services::greeter();
                let tunnel = Tunnel::open_with(ends, way, service.port, None);
                for number in 1..=2 {
                    if number == 2 {
                        thread::sleep(Duration::from_secs(25));
                        assert_eq!(service.connections(), 1, "{ends:?} {way:?}: idle connect");
                    }
                    let stream = connect(tunnel.entrance);
                    let mut reader = BufReader::new(stream);
                    assert_eq!(
                        read_line(&mut reader),
                        services::greeting(number),
                        "{ends:?} {way:?}"
                    );
                }
                assert_eq!(service.connections(), 2, "{ends:?} {way:?}");
            });
        }
    });
}
