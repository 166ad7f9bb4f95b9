//! The client's websocket upgrade against servers that answer in less usual
//! ways: the first frame in the same packet as the `101`, a refusal with a
//! body, a `101` that does not prove it read our key.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures::StreamExt;
use netunnel_core::transport::Transport;
use netunnel_core::{AsyncStdRuntime, HttpTransport};

/// A one-shot server: reads a request head, answers `answer(key)` (the
/// request's `Sec-WebSocket-Key`), then waits for the client to go.
fn canned_server(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or_default()
            .to_string();
        stream.write_all(&answer(&key)).unwrap();
        let _ = stream.read(&mut [0u8; 64]);
    });
    port
}

fn transport(port: u16) -> Arc<HttpTransport> {
    let url = format!("http://127.0.0.1:{port}");
    Arc::new(HttpTransport::new(AsyncStdRuntime::shared(), &url).unwrap())
}

/// The error of a websocket that must not open.
async fn refusal(port: u16) -> String {
    match transport(port).websocket("/x".into()).await {
        Ok(_) => panic!("the websocket opened"),
        Err(err) => err.to_string(),
    }
}

fn switching(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
}

#[async_std::test]
async fn a_frame_sent_with_the_upgrade_is_not_lost() {
    let port = canned_server(|key| {
        let mut answer = switching(key).into_bytes();
        // An unmasked binary frame of 5 bytes, in the same write as the 101.
        answer.extend_from_slice(&[0x82, 5]);
        answer.extend_from_slice(b"hello");
        answer
    });
    let (conn, read_past_head) = transport(port)
        .websocket("/x".into())
        .await
        .unwrap()
        .into_parts();
    let mut ws =
        WebSocketStream::from_partially_read(conn, read_past_head, Role::Client, None).await;
    let frame = async_std::future::timeout(support::WAIT, ws.next())
        .await
        .expect("the frame sent with the 101 was lost")
        .unwrap()
        .unwrap();
    assert_eq!(frame, Message::Binary(b"hello".to_vec().into()));
}

#[async_std::test]
async fn a_refusal_names_its_status_and_body() {
    let port =
        canned_server(|_| b"HTTP/1.1 403 Forbidden\r\nContent-Length: 8\r\n\r\nno entry".to_vec());
    assert_eq!(
        refusal(port).await,
        "the server refused the websocket /x: HTTP 403 Forbidden no entry"
    );
}

#[async_std::test]
async fn an_upgrade_with_the_wrong_accept_key_is_refused() {
    let port = canned_server(|_| switching("not the key we sent").into_bytes());
    let err = refusal(port).await;
    assert!(err.contains("is not a websocket upgrade"), "{err}");
}
