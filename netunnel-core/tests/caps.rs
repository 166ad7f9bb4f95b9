//! The server's caps on channels, tunnels per channel and connections per
//! tunnel: at a cap new work is refused cleanly, what is open goes on, and
//! room that frees up is used again.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use support::library::{
    client_of, deadline, options_with_config, server_with_config, transport_to, wait_for,
};

use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::{AsyncStdRuntime, ErrorKind, Server};
use serde_json::json;

async fn try_client(server: &Server) -> netunnel_core::Result<Client> {
    Client::connected(
        AsyncStdRuntime::shared(),
        transport_to(server),
        ClientSettings::default(),
    )
    .await
}

/// Whether a connection through `port` is closed without carrying anything.
fn refused(port: u16) -> bool {
    let mut stream = support::connect(port);
    let _ = stream.write_all(b"ping");
    let mut back = [0u8; 4];
    match stream.read(&mut back) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[async_std::test]
async fn channels_past_the_cap_are_busy_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_config(dir.path(), json!({"max_channels": 2})).await;
    let first = client_of(&server).await;
    let second = client_of(&server).await;
    let err = deadline(try_client(&server)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(first.is_connected() && second.is_connected());
    first.close().await;
    wait_for("the channel to go", || server.channels().len() == 1).await;
    let third = deadline(try_client(&server)).await.unwrap();
    assert!(third.is_connected());
    second.close().await;
    third.close().await;
    server.stop().await;
}

#[async_std::test]
async fn channels_never_connected_cannot_lock_clients_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"max_channels": 2, "max_pending_channels": 3});
    let server = server_with_config(dir.path(), config).await;
    let port = server.local_addr().port();
    // Someone creates channels and never connects them.
    let created = async_std::task::spawn_blocking(move || {
        (0..20)
            .map(|_| {
                let (status, body) =
                    support::http(port, "POST", "/channels", Some("{\"version\": \"x\"}"));
                assert_eq!(status, 200, "{body}");
            })
            .count()
    })
    .await;
    assert_eq!(created, 20);
    assert_eq!(
        server.channels().len(),
        3,
        "only the newest pending ones stay"
    );
    let first = client_of(&server).await;
    let second = client_of(&server).await;
    let err = deadline(try_client(&server)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(first.is_connected() && second.is_connected());
    first.close().await;
    second.close().await;
    server.stop().await;
}

#[async_std::test]
async fn tunnels_past_a_channels_cap_are_busy_and_the_others_go_on() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_config(dir.path(), json!({"max_tunnels_per_channel": 2})).await;
    let client = client_of(&server).await;
    let open = |client: &Client| {
        let client = client.clone();
        async move {
            client
                .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
                .await
        }
    };
    let one = deadline(open(&client)).await.unwrap();
    let reverse = deadline(client.open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None))
        .await
        .unwrap();
    let err = deadline(open(&client)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    let err = deadline(client.open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    let (forward_port, reverse_port) = (one.info().entrance.1, reverse.info().entrance.1);
    async_std::task::spawn_blocking(move || {
        support::echo_roundtrip(forward_port, 10_000, 1);
        support::echo_roundtrip(reverse_port, 10_000, 2);
    })
    .await;
    // Another client's channel has room of its own.
    let other = client_of(&server).await;
    deadline(open(&other)).await.unwrap();
    one.close().await.unwrap();
    deadline(open(&client)).await.unwrap();
    client.close().await;
    other.close().await;
    server.stop().await;
}

#[async_std::test]
async fn connections_past_a_tunnels_cap_are_closed_and_the_others_go_on() {
    let echo = support::echo_server();
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_config(dir.path(), json!({"max_connections_per_tunnel": 3})).await;
    let client = client_of(&server).await;
    let forward = deadline(client.open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo))
        .await
        .unwrap();
    let reverse = deadline(client.open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None))
        .await
        .unwrap();
    // The server's exit (forward) and the server's entrance (reverse).
    for port in [forward.info().entrance.1, reverse.info().entrance.1] {
        async_std::task::spawn_blocking(move || {
            let mut open: Vec<_> = (0..3).map(|_| support::echoing(port)).collect();
            assert!(refused(port), "a fourth connection went through");
            for stream in &mut open {
                stream.write_all(b"more").unwrap();
                let mut back = [0u8; 4];
                stream.read_exact(&mut back).unwrap();
                assert_eq!(&back, b"more");
            }
            drop(open.pop());
            // Its slot comes back once the tunnel has seen it end.
            let deadline = std::time::Instant::now() + support::WAIT;
            loop {
                let mut stream = support::connect(port);
                stream.write_all(b"ping").unwrap();
                let mut back = [0u8; 4];
                if stream.read_exact(&mut back).is_ok() {
                    assert_eq!(&back, b"ping");
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "no room came back");
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await;
    }
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn a_cap_that_is_not_a_positive_number_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [json!(0), json!(-1), json!("10"), json!(1.5)] {
        let options = options_with_config(dir.path(), &json!({"max_channels": bad}));
        let err = deadline(Server::start(options)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
        assert!(err.to_string().contains("max_channels"), "{err}");
    }
}
