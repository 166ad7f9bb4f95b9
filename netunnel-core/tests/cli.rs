//! End-to-end tests of the `netunnel` binary: real processes, real sockets.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;

use support::*;

const MIB: usize = 1 << 20;

#[test]
fn version_flag_prints_version() {
    let out = std::process::Command::new(bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn forward_tunnel_carries_bytes_both_ways() {
    let echo = echo_server();
    let (_server, port) = start_server(&[]);
    let echo_port = echo.to_string();
    let (_client, entrance) = start_client(port, &["--remote-port", &echo_port]);
    echo_roundtrip(entrance, 8 * MIB, 1);
    for seed in 0..5 {
        echo_roundtrip(entrance, 1000 + seed as usize, seed);
    }
}

#[test]
fn reverse_tunnel_carries_bytes_both_ways() {
    let echo = echo_server();
    let (_server, port) = start_server(&[]);
    let echo_port = echo.to_string();
    let (_client, entrance) = start_client(port, &["-r", "--local-port", &echo_port]);
    echo_roundtrip(entrance, 8 * MIB, 2);
    for seed in 0..5 {
        echo_roundtrip(entrance, 1 + seed as usize, seed);
    }
}

#[test]
fn refused_exit_closes_the_connection_and_the_tunnel_keeps_serving() {
    let (_server, port) = start_server(&[]);
    // Reserve a port, then free it so that nothing listens there.
    let target = free_port();
    let target_arg = target.to_string();
    let (_client, entrance) = start_client(port, &["--remote-port", &target_arg]);
    assert_closed_without_data(entrance);
    assert_closed_without_data(entrance);
    let listener = TcpListener::bind(("127.0.0.1", target)).expect("rebind the target port");
    echo_on(listener);
    echo_roundtrip(entrance, 64 * 1024, 3);
}

#[test]
fn refused_exit_of_a_reverse_tunnel_closes_the_connection() {
    let (_server, port) = start_server(&[]);
    let target = free_port();
    let target_arg = target.to_string();
    let (_client, entrance) = start_client(port, &["-r", "--local-port", &target_arg]);
    assert_closed_without_data(entrance);
    let listener = TcpListener::bind(("127.0.0.1", target)).expect("rebind the target port");
    echo_on(listener);
    echo_roundtrip(entrance, 64 * 1024, 4);
}

#[test]
fn a_thousand_concurrent_connections_through_one_tunnel() {
    const COUNT: usize = 1000;
    let echo = echo_server();
    let (_server, port) = start_server(&[]);
    let echo_port = echo.to_string();
    let (_client, entrance) = start_client(port, &["--remote-port", &echo_port]);
    let mut streams: Vec<_> = (0..COUNT).map(|_| connect(entrance)).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        stream
            .write_all(format!("connection {i:05}").as_bytes())
            .unwrap();
    }
    // Every connection is open at this point; each must get its own bytes back.
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut buf = [0u8; 16];
        stream
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        assert_eq!(&buf, format!("connection {i:05}").as_bytes());
    }
    // And they keep working after all of them were served once.
    for (i, stream) in streams.iter_mut().enumerate() {
        stream.write_all(b"again").unwrap();
        let mut buf = [0u8; 5];
        stream
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        assert_eq!(&buf, b"again");
    }
}

#[test]
fn sigint_closes_the_reverse_tunnel_on_the_server_and_exits_zero() {
    let echo = echo_server();
    let (_server, port) = start_server(&[]);
    let echo_port = echo.to_string();
    let (mut client, entrance) = start_client(port, &["-r", "--local-port", &echo_port]);
    let held = connect(entrance);
    echo_roundtrip(entrance, 1024, 5);
    client.signal("INT");
    let (code, output) = client.wait_exit();
    assert_eq!(code, Some(0), "{output:?}");
    wait_until("the server to close the reverse entrance", || {
        !is_listening(entrance)
    });
    // The connection that was open through the tunnel was closed too.
    let mut held = held;
    let mut buf = [0u8; 1];
    assert!(matches!(held.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn sigterm_closes_a_forward_tunnel_and_exits_zero() {
    let echo = echo_server();
    let (mut server, port) = start_server(&["-d"]);
    let echo_port = echo.to_string();
    let (mut client, entrance) = start_client(port, &["--remote-port", &echo_port]);
    let mut held = connect(entrance);
    held.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    held.read_exact(&mut buf).unwrap();
    client.signal("TERM");
    let (code, output) = client.wait_exit();
    assert_eq!(code, Some(0), "{output:?}");
    assert!(matches!(held.read(&mut buf), Ok(0) | Err(_)));
    assert!(!is_listening(entrance));
    server.wait_line("tunnel 1 deleted");
}

#[test]
fn destination_outside_the_allow_list_is_refused_with_a_clear_error() {
    let (_server, port) = start_server(&[]);
    let url = format!("http://127.0.0.1:{port}");
    // The default allow-list is {"127.0.0.1": "*"}; addresses compare as strings.
    let mut client = Proc::spawn(
        bin(),
        &[
            "client",
            "-s",
            &url,
            "--remote-address",
            "localhost",
            "--remote-port",
            "22",
        ],
    );
    let (code, output) = client.wait_exit();
    assert_eq!(code, Some(1), "{output:?}");
    let errors: Vec<_> = output.iter().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{output:?}");
    assert!(errors[0].contains("not allowed"), "{output:?}");
}

#[test]
fn usage_errors_and_unreachable_server_exit_nonzero_with_one_line() {
    let mut reverse = Proc::spawn(bin(), &["client", "-r"]);
    let (code, output) = reverse.wait_exit();
    assert_eq!(code, Some(1));
    assert_eq!(
        output,
        vec!["error: --local-port is required with --reverse".to_string()]
    );

    let url = format!("http://127.0.0.1:{}", free_port());
    let mut unreachable = Proc::spawn(bin(), &["client", "-s", &url, "--remote-port", "1"]);
    let (code, output) = unreachable.wait_exit();
    assert_eq!(code, Some(1));
    let last = error_line(&output);
    assert!(last.starts_with("error: cannot connect to"), "{output:?}");
    assert!(!output
        .iter()
        .any(|l| l.contains("panicked") || l.contains("backtrace")));

    let mut bad = Proc::spawn(bin(), &["server", "--no-such-flag"]);
    let (code, _) = bad.wait_exit();
    assert_eq!(code, Some(2));

    let mut bad_url = Proc::spawn(bin(), &["client", "-s", "not a url"]);
    let (code, output) = bad_url.wait_exit();
    assert_eq!(code, Some(1), "{output:?}");
}

#[test]
fn losing_the_server_ends_the_client_with_an_error() {
    let echo = echo_server();
    let (mut server, port) = start_server(&[]);
    let echo_port = echo.to_string();
    let (mut client, entrance) = start_client(port, &["--remote-port", &echo_port]);
    echo_roundtrip(entrance, 1024, 6);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let (code, output) = client.wait_exit();
    assert_eq!(code, Some(1), "{output:?}");
    let last = error_line(&output);
    assert!(
        last.contains("lost the connection to the server"),
        "{output:?}"
    );
}

#[test]
fn server_sigterm_exits_zero_and_ends_its_clients() {
    let echo = echo_server();
    let (mut server, port) = start_server(&[]);
    let echo_port = echo.to_string();
    let (mut client, _entrance) = start_client(port, &["--remote-port", &echo_port]);
    server.signal("TERM");
    let (code, output) = server.wait_exit();
    assert_eq!(code, Some(0), "{output:?}");
    let (code, _) = client.wait_exit();
    assert_eq!(code, Some(1));
}

#[test]
fn rest_errors_are_json_with_4xx_status() {
    let (_server, port) = start_server(&[]);
    let (status, body) = http(port, "GET", "/version", None);
    assert_eq!((status, body.as_str()), (200, env!("CARGO_PKG_VERSION")));

    let (status, body) = http(port, "POST", "/channels/99/tunnels", Some("{}"));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"error\""), "{body}");

    let (status, body) = http(port, "POST", "/channels", Some("not json"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"error\""), "{body}");

    let (status, body) = http(port, "POST", "/channels", Some(r#"{"version": "test"}"#));
    assert_eq!(status, 200, "{body}");
    let channel: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cid = channel["channel_id"].as_u64().unwrap();

    let path = format!("/channels/{cid}/tunnels");
    let (status, body) = http(
        port,
        "POST",
        &path,
        Some(r#"{"reverse": false, "exit_port": 22}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("exit_address"), "{body}");

    let forward = r#"{"reverse": false, "exit_address": "127.0.0.2", "exit_port": 22}"#;
    let (status, body) = http(port, "POST", &path, Some(forward));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not allowed"), "{body}");

    let reverse = r#"{"reverse": true, "entrance_address": "127.0.0.1", "entrance_port": null}"#;
    let (status, body) = http(port, "POST", &path, Some(reverse));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not connected"), "{body}");

    let (status, body) = http(port, "GET", "/no/such/route", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"error\""), "{body}");

    let (status, body) = http(port, "GET", &format!("/channels/{cid}/connect"), None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("websocket"), "{body}");
}

/// Bursts of new connections through a reverse tunnel: every spare the server
/// asks for must be accounted for, even when the client's websocket arrives
/// before its answer to the request (a stall there made connections wait 10 s).
#[test]
fn reverse_tunnels_serve_bursts_of_new_connections_without_stalling() {
    let echo = echo_server();
    let (mut server, port) = start_server(&[]);
    let echo_port = echo.to_string();
    let (_client, entrance) = start_client(port, &["-r", "--local-port", &echo_port]);
    let workers: Vec<_> = (0..50)
        .map(|worker| {
            std::thread::spawn(move || {
                for round in 0..20 {
                    let mut stream = connect(entrance);
                    stream
                        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                        .unwrap();
                    let message = format!("{worker:04}-{round:04}");
                    stream.write_all(message.as_bytes()).unwrap();
                    let mut back = [0u8; 9];
                    stream
                        .read_exact(&mut back)
                        .unwrap_or_else(|e| panic!("{message}: {e}"));
                    assert_eq!(&back, message.as_bytes());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let lines = server.drain();
    assert!(
        !lines.iter().any(|l| l.contains("did not arrive")),
        "{lines:?}"
    );
}
