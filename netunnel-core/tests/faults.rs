//! Faults a network throws at a tunnel: an end killed or frozen, a server that
//! accepts connections and never answers, a destination that resets one
//! connection mid-transfer, a disk that fills while the configuration is
//! written. Each must end what it breaks, within a bound, and nothing else.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use async_std::task::block_on;
use netunnel_core::{Heartbeat, Server, ServerOptions};
use support::{bin, port_of, Proc};

/// The heartbeat interval of these tests (the CLI's `--heartbeat-interval`).
const BEAT: Duration = Duration::from_secs(1);
const BEAT_FLAG: &str = "1";

/// How long a silent end can go unnoticed with [`BEAT`]: the last frame can
/// come just after a check, so a ping goes out up to two intervals later, and
/// the answer is awaited half an interval. Two seconds more for a loaded
/// machine.
fn heartbeat_window() -> Duration {
    BEAT * 2 + BEAT / 2 + Duration::from_secs(2)
}

fn stateless_server() -> Server {
    let options = ServerOptions::new()
        .port(0)
        .stateless()
        .environment(false)
        .heartbeat(Heartbeat::every(BEAT));
    block_on(support::library::deadline(Server::start(options))).expect("start the server")
}

/// `netunnel client --reverse` from `server`'s entrance to an echo service;
/// returns the client and the entrance port on the server's side.
fn reverse_client(server: &Server) -> (Proc, u16) {
    let echo = support::echo_server().to_string();
    let url = server.url();
    let args = [
        "client",
        "-s",
        url.as_str(),
        "--reverse",
        "--local-port",
        echo.as_str(),
        "--heartbeat-interval",
        BEAT_FLAG,
    ];
    let mut client = Proc::spawn(bin(), &args);
    let entrance = port_of(&client.wait_line("Tunnel entrance socket:"));
    client.wait_line("Tunnel exit socket:");
    (client, entrance)
}

/// Whether the other side has closed `stream` (EOF or reset), reading
/// without blocking for long.
fn is_closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => !matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Waits until the server holds no channel, its reverse entrance `port` is
/// closed and `open` (a connection through it) has been ended; returns how
/// long that took.
fn wait_freed(server: &Server, port: u16, open: &mut TcpStream) -> Duration {
    let started = Instant::now();
    support::wait_until("the channel, its tunnel and its port to go", || {
        server.channels().is_empty() && !support::is_listening(port) && is_closed(open)
    });
    started.elapsed()
}

#[test]
fn a_killed_client_frees_its_channel_tunnels_and_ports() {
    let server = stateless_server();
    let (mut client, entrance) = reverse_client(&server);
    let mut open = support::echoing(entrance);
    let channels = server.channels();
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].tunnels.len(), 1);
    client.child.kill().unwrap();
    let took = wait_freed(&server, entrance, &mut open);
    assert!(took < heartbeat_window(), "freed after {took:?}");
    block_on(server.stop());
}

#[test]
fn a_frozen_client_is_dropped_within_the_heartbeat_window() {
    let server = stateless_server();
    let (client, entrance) = reverse_client(&server);
    let mut open = support::echoing(entrance);
    assert_eq!(server.channels().len(), 1);
    // SIGSTOP: the client's sockets stay open, and nothing answers on them,
    // as with a machine that dropped off the network.
    client.signal("STOP");
    let took = wait_freed(&server, entrance, &mut open);
    assert!(took < heartbeat_window(), "dropped after {took:?}");
    block_on(server.stop());
}

/// A CLI server and a CLI forward client to an echo service, both with the
/// short heartbeat, and a connection open through the tunnel.
fn cli_pair() -> (Proc, Proc, TcpStream) {
    let echo = support::echo_server().to_string();
    let (server, port) = support::start_server(&["--heartbeat-interval", BEAT_FLAG]);
    let (client, entrance) = support::start_client(
        port,
        &["--remote-port", &echo, "--heartbeat-interval", BEAT_FLAG],
    );
    let open = support::echoing(entrance);
    (server, client, open)
}

/// Waits for the CLI client to exit; checks it failed with a message that
/// names the lost server, and returns how long it took.
fn assert_exits_for_lost_server(client: &mut Proc) -> Duration {
    let started = Instant::now();
    let (code, output) = client.wait_exit();
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{output:?}");
    let error = support::error_line(&output);
    assert!(
        error.contains("lost the connection to the server http://127.0.0.1:"),
        "{error}"
    );
    took
}

#[test]
fn a_killed_server_ends_the_cli_client_with_a_clear_message() {
    let (mut server, mut client, _open) = cli_pair();
    server.child.kill().unwrap();
    let took = assert_exits_for_lost_server(&mut client);
    assert!(took < heartbeat_window(), "exited after {took:?}");
}

#[test]
fn a_frozen_server_ends_the_cli_client_within_the_heartbeat_window() {
    // The server answered the upgrades and then went silent.
    let (server, mut client, _open) = cli_pair();
    server.signal("STOP");
    let took = assert_exits_for_lost_server(&mut client);
    assert!(took < heartbeat_window(), "exited after {took:?}");
}

#[async_std::test]
async fn the_library_client_reports_a_killed_server() {
    let (mut server, port) = support::start_server(&[]);
    let transport = std::sync::Arc::new(
        netunnel_core::HttpTransport::new(
            netunnel_core::AsyncStdRuntime::shared(),
            &format!("http://127.0.0.1:{port}"),
        )
        .unwrap(),
    );
    let client = netunnel_core::client::Client::connected(
        netunnel_core::AsyncStdRuntime::shared(),
        transport,
        netunnel_core::client::ClientSettings::default(),
    )
    .await
    .unwrap();
    server.child.kill().unwrap();
    support::library::deadline(client.disconnected()).await;
    assert!(!client.is_connected());
    let err = support::library::deadline(client.open_tunnel_to_server("127.0.0.1", None, "x", 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), netunnel_core::ErrorKind::ChannelClosed, "{err}");
    // Connecting again fails as the server is gone: a connection error.
    let err = support::library::deadline(client.connect())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), netunnel_core::ErrorKind::Connection, "{err}");
}

/// A server that accepts TCP connections, reads what comes and never answers.
/// The connections stay open as long as the test runs.
fn silent_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || {
                let mut stream = stream;
                let mut sink = [0u8; 4096];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

#[test]
fn a_server_that_never_answers_times_the_cli_client_out() {
    let port = silent_listener();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut client = Proc::spawn(bin(), &["client", "-s", &url, "--request-timeout", "0.5"]);
    let (code, output) = client.wait_exit();
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{output:?}");
    let error = support::error_line(&output);
    assert!(
        error.contains(&format!("cannot connect to {url}")),
        "{error}"
    );
    assert!(error.contains("timed out"), "{error}");
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
}

/// At the real default (30 s): registering a peer that accepts connections
/// and never answers fails with a timeout, and the server keeps serving.
#[test]
fn registering_a_silent_peer_times_out_at_the_default_bound() {
    let silent = silent_listener();
    let dir = tempfile::tempdir().unwrap();
    let server = block_on(support::library::server_with_config(
        dir.path(),
        serde_json::json!({}),
    ));
    let port = server.local_addr().port();
    let body = format!(
        r#"{{"name": "quiet", "target_netunnel_url": "http://127.0.0.1:{silent}", "auth_data": {{}}}}"#
    );
    let started = Instant::now();
    let asking = thread::spawn(move || support::http(port, "POST", "/peers", Some(&body)));
    // Meanwhile the server answers others at once.
    thread::sleep(Duration::from_millis(200));
    let (status, version) = support::http(port, "GET", "/version", None);
    assert_eq!(status, 200, "{version}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, answer) = asking.join().unwrap();
    let took = started.elapsed();
    // 400, "Failed to connect with peer", as NETunnel 1.0.x answers when the
    // peer cannot be reached.
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("Failed to connect with peer `quiet`"),
        "{answer}"
    );
    assert!(answer.contains("timed out"), "{answer}");
    let default = netunnel_core::HttpTransport::DEFAULT_REQUEST_TIMEOUT;
    assert!(
        took >= default && took < default + Duration::from_secs(5),
        "answered after {took:?}"
    );
    let (status, peers) = support::http(port, "GET", "/peers", None);
    assert_eq!((status, peers.as_str()), (200, "[]"));
    block_on(server.stop());
}

/// A service that resets any connection whose first byte is `R` (it sends a
/// little, then closes with the request unread, which makes the kernel send
/// a reset) and echoes every other.
fn resetting_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || {
                let mut first = [0u8; 1];
                if stream.peek(&mut first).is_err() {
                    return;
                }
                let mut stream = stream;
                if first[0] == b'R' {
                    let _ = stream.write_all(&[7u8; 65_536]);
                    return; // Dropped with unread input: a reset.
                }
                let mut reader = stream.try_clone().unwrap();
                let _ = std::io::copy(&mut reader, &mut stream);
            });
        }
    });
    port
}

#[test]
fn a_destination_reset_mid_transfer_ends_only_that_connection() {
    let service = resetting_echo().to_string();
    let (_server, port) = support::start_server(&[]);
    let (_client, entrance) = support::start_client(port, &["--remote-port", &service]);
    // A long checked transfer on one connection of the tunnel...
    let transfer = thread::spawn(move || support::echo_roundtrip(entrance, 32 << 20, 5));
    // ...while other connections of the same tunnel are reset by the service.
    for _ in 0..5 {
        let mut reset = support::connect(entrance);
        reset.write_all(b"R please").unwrap();
        let mut sink = Vec::new();
        // It ends (EOF or a reset), it does not hang.
        let _ = reset.read_to_end(&mut sink);
        assert!(sink.len() <= 65_536, "{} bytes", sink.len());
    }
    transfer.join().expect("the other transfer was disturbed");
    // The tunnel still takes new connections.
    support::echo_roundtrip(entrance, 1 << 20, 6);
}

#[test]
fn a_full_disk_keeps_the_old_configuration_and_answers_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("conf");
    std::fs::create_dir(&folder).unwrap();
    let config = folder.join("netunnel.conf");
    let folder_text = folder.to_str().unwrap();
    let config_text = config.to_str().unwrap();
    // A tmpfs of 256 KiB of its own, in a mount namespace of the server's
    // own (a user namespace makes that possible without root).
    let script = r#"mount -t tmpfs -o size=256k,mode=0700 tmpfs "$1" && shift && exec "$@""#;
    let mut server = Proc::spawn_with(Command::new("unshare").args([
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        script,
        "sh",
        folder_text,
        bin(),
        "server",
        "-p",
        "0",
        "-c",
        config_text,
    ]));
    let port = port_of(&server.wait_line("Starting server on"));
    // The server's view of the folder.
    let inside = std::path::PathBuf::from(format!("/proc/{}/root{folder_text}", server.child.id()));
    let stored = inside.join("netunnel.conf");
    let before = std::fs::read(&stored).unwrap();
    // Fill the disk.
    let filler = inside.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    drop(file);

    let body = r#"{"proxy_url": "http://proxy.example:3128", "username": "u", "password": "p", "check_proxy": false}"#;
    let (status, answer) = support::http(port, "POST", "/config/http-proxy", Some(body));
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("No space left on device"), "{answer}");
    assert!(answer.contains(r#""kind":"io""#), "{answer}");
    assert!(!answer.contains("\"p\""), "{answer}");
    assert_eq!(std::fs::read(&stored).unwrap(), before, "the file changed");
    let names: Vec<_> = std::fs::read_dir(&inside)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "a temporary file was left: {names:?}");
    // The change was not applied.
    let (status, shown) = support::http(port, "GET", "/config/http-proxy", None);
    assert_eq!(status, 200);
    assert!(!shown.contains("proxy.example"), "{shown}");

    // With room again, the same change is written.
    std::fs::remove_file(&filler).unwrap();
    let (status, answer) = support::http(port, "POST", "/config/http-proxy", Some(body));
    assert_eq!(status, 200, "{answer}");
    let after = std::fs::read_to_string(&stored).unwrap();
    assert!(after.contains("proxy.example"), "{after}");
    drop(server);
}

/// The shared runtime, except that listening on `port` waits for `gate`.
struct Gated {
    inner: netunnel_core::RuntimeRef,
    port: u16,
    reached: std::sync::Arc<std::sync::atomic::AtomicBool>,
    gate: async_channel::Receiver<()>,
}

impl netunnel_core::Runtime for Gated {
    fn spawn(&self, future: futures::future::BoxFuture<'static, ()>) {
        self.inner.spawn(future)
    }
    fn sleep(&self, duration: Duration) -> futures::future::BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
    fn listen(
        &self,
        host: String,
        port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Box<dyn netunnel_core::Listener>>>
    {
        let listening = self.inner.listen(host, port);
        if port != self.port {
            return listening;
        }
        let (reached, gate) = (std::sync::Arc::clone(&self.reached), self.gate.clone());
        Box::pin(async move {
            reached.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = gate.recv().await;
            listening.await
        })
    }
    fn connect(
        &self,
        host: String,
        port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<netunnel_core::BoxConn>> {
        self.inner.connect(host, port)
    }
    fn unblock(&self, work: Box<dyn FnOnce() + Send>) -> futures::future::BoxFuture<'static, ()> {
        self.inner.unblock(work)
    }
}

#[async_std::test]
async fn a_tunnel_made_while_its_channel_closes_does_not_outlive_it() {
    use support::library::{client_of, deadline, wait_for};
    let entrance = support::free_port();
    let (open_gate, gate) = async_channel::bounded(1);
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runtime = std::sync::Arc::new(Gated {
        inner: netunnel_core::AsyncStdRuntime::shared(),
        port: entrance,
        reached: std::sync::Arc::clone(&reached),
        gate,
    });
    let options = ServerOptions::new()
        .port(0)
        .stateless()
        .environment(false)
        .runtime(runtime);
    let server = deadline(Server::start(options)).await.unwrap();
    let client = client_of(&server).await;
    let echo = support::echo_server();
    // A reverse tunnel whose entrance is still being opened...
    let opening = {
        let client = client.clone();
        async_std::task::spawn(async move {
            client
                .open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", Some(entrance))
                .await
        })
    };
    wait_for("the entrance to be opened", || {
        reached.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    // ...when its channel ends.
    let cid = server.channels()[0].id;
    server.core().close_channel(cid).unwrap();
    wait_for("the channel to end", || server.channels().is_empty()).await;
    open_gate.send(()).await.unwrap();
    let opened = deadline(opening).await;
    assert!(opened.is_err(), "a tunnel was opened on a closed channel");
    wait_for("the entrance to close", || !support::is_listening(entrance)).await;
    server.stop().await;
}
