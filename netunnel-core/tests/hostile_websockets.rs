//! What a hostile client can send over the server's websockets: documents
//! that do not parse, oversized frames, endless fragments, requests it never
//! reads the answers of. Each websocket is closed with a reason (or stops
//! being read), the server's memory stays flat, and everyone else is served.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use support::raw_ws::{self, RawWs, BINARY, CONTINUATION, TEXT};

/// Close codes of RFC 6455.
const PROTOCOL_ERROR: u16 = 1002;
const TOO_BIG: u16 = 1009;

fn encode(doc: &bson::Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.to_writer(&mut out).unwrap();
    out
}

/// Creates a channel over REST and opens its control websocket.
fn control_channel(port: u16) -> (u64, RawWs) {
    let (status, body) = support::http(port, "POST", "/channels", Some(r#"{"version": "2.0.0"}"#));
    assert_eq!(status, 200, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = created["channel_id"].as_u64().unwrap();
    (id, raw_ws::open(port, &format!("/channels/{id}/connect")))
}

/// A tunnel websocket of a forward tunnel to an echo service, not started
/// (NETunnel starts one with a `pasten` text frame).
fn tunnel_websocket(port: u16) -> (RawWs, RawWs) {
    let echo = support::echo_server();
    let (cid, control) = control_channel(port);
    let body = format!(r#"{{"exit_address": "127.0.0.1", "exit_port": {echo}, "reverse": false}}"#);
    let (status, answer) = support::http(
        port,
        "POST",
        &format!("/channels/{cid}/tunnels"),
        Some(&body),
    );
    assert_eq!(status, 200, "{answer}");
    let created: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let tid = created["tunnel_id"].as_u64().unwrap();
    let path = format!("/channels/{cid}/tunnels/{tid}/connect");
    (control, raw_ws::open(port, &path))
}

#[test]
fn data_before_the_start_marker_closes_a_tunnel_websocket_with_a_reason() {
    let (_server, port) = support::start_server(&["--metrics"]);
    let (_control, mut tunnel) = tunnel_websocket(port);
    tunnel.send(true, BINARY, b"too early").unwrap();
    assert_closed_with(&mut tunnel, PROTOCOL_ERROR, "before `pasten`");
    // And the metrics say why the websocket went.
    let (status, text) = support::http(port, "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(
        text.contains("\nnetunnel_errors_total{reason=\"out_of_step\"} 1\n"),
        "{text}"
    );
}

/// Sends a 2 MiB binary frame (the server takes 1 MiB at most); the server
/// may close before all of it is written.
fn send_oversized(ws: &mut RawWs) {
    let payload = vec![0u8; 2 << 20];
    let _ = ws.send(true, BINARY, &payload);
}

/// Sends 2 MiB as one message in 64 KiB fragments.
fn send_fragment_flood(ws: &mut RawWs) {
    let piece = vec![0u8; 64 << 10];
    if ws.send(false, BINARY, &piece).is_err() {
        return;
    }
    for _ in 0..31 {
        if ws.send(false, CONTINUATION, &piece).is_err() {
            return;
        }
    }
}

/// The server still serves a real client: a tunnel with an echo through it.
fn still_serving(port: u16) {
    let echo = support::echo_server().to_string();
    let (_client, entrance) = support::start_client(port, &["--remote-port", &echo]);
    support::echo_roundtrip(entrance, 1 << 20, 3);
}

fn assert_closed_with(ws: &mut RawWs, code: u16, reason: &str) {
    let (got, why) = ws.close_reason().expect("no close frame");
    assert_eq!(got, code, "closed with {got}: {why}");
    assert!(why.contains(reason), "{why}");
}

#[test]
fn a_control_document_that_does_not_parse_closes_the_channel_with_a_reason() {
    let (_server, port) = support::start_server(&[]);
    let (_, mut control) = control_channel(port);
    control
        .send(true, BINARY, b"\x05\x00\x00\x00garbage")
        .unwrap();
    assert_closed_with(&mut control, PROTOCOL_ERROR, "invalid BSON");
    // Valid BSON that is not a control document.
    let (_, mut control) = control_channel(port);
    let doc = bson::doc! {"hello": "world"};
    control.send(true, BINARY, &encode(&doc)).unwrap();
    assert_closed_with(&mut control, PROTOCOL_ERROR, "without `_type`");
    still_serving(port);
}

#[test]
fn oversized_frames_close_control_and_tunnel_websockets_with_1009() {
    let (_server, port) = support::start_server(&[]);
    let (_, mut control) = control_channel(port);
    send_oversized(&mut control);
    assert_closed_with(&mut control, TOO_BIG, "");
    let (_control, mut tunnel) = tunnel_websocket(port);
    // One well-formed frame first, so the exit is connected and pumping.
    tunnel.send(true, TEXT, b"pasten").unwrap();
    tunnel.send(true, BINARY, b"ping").unwrap();
    assert_eq!(tunnel.data().unwrap(), b"ping");
    send_oversized(&mut tunnel);
    assert_closed_with(&mut tunnel, TOO_BIG, "");
    still_serving(port);
}

#[test]
fn fragment_floods_close_control_and_tunnel_websockets_with_1009() {
    let (_server, port) = support::start_server(&[]);
    let (_, mut control) = control_channel(port);
    send_fragment_flood(&mut control);
    assert_closed_with(&mut control, TOO_BIG, "");
    let (_control, mut tunnel) = tunnel_websocket(port);
    tunnel.send(true, TEXT, b"pasten").unwrap();
    tunnel.send(true, BINARY, b"ping").unwrap();
    assert_eq!(tunnel.data().unwrap(), b"ping");
    send_fragment_flood(&mut tunnel);
    assert_closed_with(&mut tunnel, TOO_BIG, "");
    still_serving(port);
}

#[test]
fn requests_whose_answers_are_never_read_stop_being_read() {
    let (server, port) = support::start_server(&[]);
    let (_, mut control) = control_channel(port);
    let before = server.rss();
    control
        .stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // Requests with unknown names, which a server answers (with success, as
    // NETunnel 1.0.x does); this client never reads the answers.
    let mut sent = 0u64;
    let stalled = loop {
        let doc = bson::doc! {
            "_type": "message",
            "_identifier": sent as i64 + 1,
            "message_type": {"__Messages__": "NO_SUCH_MESSAGE"},
            "data": {},
        };
        match control.send(true, BINARY, &encode(&doc)) {
            Ok(()) => sent += 1,
            Err(err) => break err,
        }
        assert!(sent < 5_000_000, "the server never stopped reading");
    };
    assert!(
        matches!(stalled.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{stalled}"
    );
    let during = server.rss();
    assert!(
        during.saturating_sub(before) < 16 << 20,
        "the server grew from {before} to {during} bytes after {sent} requests"
    );
    eprintln!("stalled after {sent} requests; server rss {before} -> {during}");
    still_serving(port);
}
