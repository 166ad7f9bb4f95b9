//! Tests of the runtime-agnostic core: the control channel, tunnel ends, the
//! heartbeat. Each runs on smol and, when the `async-std` feature is on, on
//! async-std too: the core only sees the `Runtime` trait, so both must behave
//! the same.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{AcceptAll, Channel, MessageHandler};
use crate::tunnel::Exit;
use crate::wire::{ControlFrame, ControlMessage};
use crate::ws::Heartbeat;
use crate::{Error, RuntimeRef};
use async_tungstenite::tungstenite::Message;
use futures::future::BoxFuture;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};

use super::in_process::*;

#[test]
fn bson_vectors_decode_and_encode_byte_identical() {
    let text = include_str!("../../tests/data/channel-bson.json");
    let file: serde_json::Value = serde_json::from_str(text).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let hex = vector["hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let doc = &vector["document"];
        let frame = ControlFrame::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let identifier = doc["_identifier"].as_i64().unwrap();
        match &frame {
            ControlFrame::Message {
                identifier: id,
                message,
            } => {
                assert_eq!(doc["_type"], "message", "{name}");
                assert_eq!(*id, identifier, "{name}");
                let tunnel_id = doc["data"]["tunnel_id"].as_u64().unwrap();
                let expected = match doc["message_type"]["__Messages__"].as_str().unwrap() {
                    "TUNNEL_SERVER_TO_CLIENT_NEW_CONNECTION" => {
                        ControlMessage::NewConnection { tunnel_id }
                    }
                    "DELETE_TUNNEL" => ControlMessage::DeleteTunnel {
                        tunnel_id,
                        force: doc["data"]["force"].as_bool().unwrap(),
                    },
                    other => panic!("{name}: unexpected vector message {other}"),
                };
                assert_eq!(message, &expected, "{name}");
            }
            ControlFrame::Response {
                identifier: id,
                data,
                error,
            } => {
                assert_eq!(doc["_type"], "response", "{name}");
                assert_eq!(*id, identifier, "{name}");
                assert!(data.is_empty(), "{name}");
                assert_eq!(error.as_deref(), doc["error"].as_str(), "{name}");
            }
        }
        assert_eq!(frame.encode(), bytes, "{name}: our encoding differs");
    }
}

struct RefuseDeletes;

impl MessageHandler for RefuseDeletes {
    fn handle(&self, message: ControlMessage) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            match message {
                ControlMessage::DeleteTunnel { tunnel_id, .. } => Err(format!(
                    "tunnel_id `{tunnel_id}` is not registered on this client"
                )),
                _ => Ok(()),
            }
        })
    }
}

#[test]
fn channel_correlates_requests_and_responses() {
    on_every_runtime(|rt| async move {
        let (a, b) = ws_pair(&rt).await;
        let (server, server_rx) = Channel::new(1, a);
        let (client, client_rx) = Channel::new(1, b);
        rt.spawn(Box::pin(server.clone().serve(
            rt.clone(),
            server_rx,
            Arc::new(AcceptAll),
            None,
        )));
        rt.spawn(Box::pin(client.clone().serve(
            rt.clone(),
            client_rx,
            Arc::new(RefuseDeletes),
            None,
        )));
        // Many requests in flight at once, each answered to its own sender.
        let asks = (1..=50u64).map(|tunnel_id| {
            let server = server.clone();
            async move {
                let message = if tunnel_id % 2 == 0 {
                    ControlMessage::NewConnection { tunnel_id }
                } else {
                    ControlMessage::DeleteTunnel {
                        tunnel_id,
                        force: true,
                    }
                };
                (tunnel_id, server.request(message).await)
            }
        });
        for (tunnel_id, answer) in with_deadline(&rt, futures::future::join_all(asks)).await {
            if tunnel_id % 2 == 0 {
                assert!(answer.is_ok(), "{answer:?}");
            } else {
                match answer {
                    Err(Error::Remote { message, .. }) => {
                        assert!(message.contains(&format!("`{tunnel_id}`")))
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        // The other direction, against the 1.0.x-like handler.
        assert!(client
            .request(ControlMessage::NewConnection { tunnel_id: 1 })
            .await
            .is_ok());
        // Closing one side ends the other and fails later requests.
        server.close();
        with_deadline(&rt, client.closed()).await;
        assert!(matches!(
            client
                .request(ControlMessage::NewConnection { tunnel_id: 1 })
                .await,
            Err(Error::ChannelClosed)
        ));
    });
}

#[test]
fn heartbeat_drops_a_peer_that_stops_answering() {
    on_every_runtime(|rt| async move {
        let heartbeat = Heartbeat {
            idle: Duration::from_millis(100),
            timeout: Duration::from_millis(100),
        };
        // A peer that answers pings keeps the channel up.
        let (a, b) = ws_pair(&rt).await;
        let (pinger, pinger_rx) = Channel::new(1, a);
        let (answerer, answerer_rx) = Channel::new(1, b);
        rt.spawn(Box::pin(answerer.clone().serve(
            rt.clone(),
            answerer_rx,
            Arc::new(AcceptAll),
            None,
        )));
        rt.spawn(Box::pin(pinger.clone().serve(
            rt.clone(),
            pinger_rx,
            Arc::new(AcceptAll),
            Some(heartbeat),
        )));
        rt.sleep(Duration::from_millis(700)).await;
        assert!(!pinger.is_closed(), "a peer answering pings was dropped");
        // A peer that never reads (so never answers a ping) is dropped.
        let (a, silent) = ws_pair(&rt).await;
        let (pinger, pinger_rx) = Channel::new(2, a);
        rt.spawn(Box::pin(pinger.clone().serve(
            rt.clone(),
            pinger_rx,
            Arc::new(AcceptAll),
            Some(heartbeat),
        )));
        with_deadline(&rt, pinger.closed()).await;
        drop(silent);
    });
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn roundtrip(rt: &RuntimeRef, port: u16, data: Vec<u8>) {
    let conn = rt.connect("127.0.0.1".into(), port).await.unwrap();
    let (mut reader, mut writer) = conn.split();
    let len = data.len();
    let send = async move {
        writer.write_all(&data).await.unwrap();
        writer
    };
    let receive = async move {
        let mut back = vec![0u8; len];
        reader.read_exact(&mut back).await.unwrap();
        back
    };
    let (_writer, back) = with_deadline(rt, futures::future::join(send, receive)).await;
    assert!(back == pattern(len), "bytes changed in the tunnel");
}

#[test]
fn tunnel_carries_bytes_and_survives_a_refused_exit() {
    on_every_runtime(|rt| async move {
        let echo = echo_service(&rt).await;
        let (entrance, exit, _) = tunnel_to(&rt, echo, false).await;
        let port = entrance.local_addr().port();
        roundtrip(&rt, port, pattern(4 << 20)).await;
        let parallel = (0..20).map(|i| roundtrip(&rt, port, pattern(1000 + i)));
        futures::future::join_all(parallel).await;
        entrance.stop();
        exit.stop();
        with_deadline(&rt, entrance.wait_stopped()).await;
        assert!(
            rt.connect("127.0.0.1".into(), port).await.is_err(),
            "entrance still listens"
        );

        // Nothing listens at the exit: each connection ends with EOF.
        let closed = rt.listen("127.0.0.1".into(), 0).await.unwrap();
        let dead_port = closed.local_addr().unwrap().port();
        drop(closed);
        let (entrance, _exit, _) = tunnel_to(&rt, dead_port, true).await;
        for _ in 0..3 {
            let mut conn = rt
                .connect("127.0.0.1".into(), entrance.local_addr().port())
                .await
                .unwrap();
            let mut buf = [0u8; 8];
            let _ = conn.write_all(b"x").await;
            let read = with_deadline(&rt, conn.read(&mut buf)).await;
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        }
        entrance.stop();
    });
}

#[test]
fn text_frames_after_the_first_are_ignored_by_the_exit() {
    on_every_runtime(|rt| async move {
        let echo = echo_service(&rt).await;
        let exit = Exit::new(
            rt.clone(),
            "127.0.0.1".into(),
            echo,
            None,
            false,
            crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Exit),
        );
        let (server_side, mut client_side) = ws_pair(&rt).await;
        exit.serve(server_side);
        client_side
            .send(Message::Text("pasten".into()))
            .await
            .unwrap();
        client_side
            .send(Message::Text("ignored".into()))
            .await
            .unwrap();
        client_side
            .send(Message::Binary(Vec::new().into()))
            .await
            .unwrap();
        client_side
            .send(Message::Binary(b"data".to_vec().into()))
            .await
            .unwrap();
        let echoed = with_deadline(&rt, async {
            loop {
                match client_side.next().await {
                    Some(Ok(Message::Binary(bytes))) => return bytes,
                    Some(Ok(_)) => continue,
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
        assert_eq!(&echoed[..], b"data");
        exit.stop();
    });
}

/// A service that greets and closes first, so the exit's side ends the
/// connection.
async fn greeter(rt: &RuntimeRef) -> u16 {
    let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(Box::pin(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let _ = conn.write_all(b"hi").await;
        }
    }));
    port
}

#[test]
fn websockets_carry_one_connection_after_another_when_both_sides_are_ours() {
    on_every_runtime(|rt| async move {
        let echo = echo_service(&rt).await;
        for reuse in [true, false] {
            let (entrance, exit, opened) = tunnel_to(&rt, echo, reuse).await;
            let port = entrance.local_addr().port();
            for round in 0..20 {
                roundtrip(&rt, port, pattern(100 + round)).await;
            }
            let count = opened.load(std::sync::atomic::Ordering::SeqCst);
            if reuse {
                assert!(count <= 6, "{count} websockets opened for 20 connections");
            } else {
                assert!(count >= 20, "only {count} websockets opened without reuse");
            }
            entrance.stop();
            exit.stop();
        }
        // The exit's side ending first hands the websocket back as well.
        let greet = greeter(&rt).await;
        let (entrance, exit, opened) = tunnel_to(&rt, greet, true).await;
        for _ in 0..10 {
            let mut conn = rt
                .connect("127.0.0.1".into(), entrance.local_addr().port())
                .await
                .unwrap();
            let mut all = Vec::new();
            with_deadline(&rt, conn.read_to_end(&mut all))
                .await
                .unwrap();
            assert_eq!(all, b"hi");
        }
        let count = opened.load(std::sync::atomic::Ordering::SeqCst);
        assert!(count <= 6, "{count} websockets opened for 10 connections");
        entrance.stop();
        exit.stop();
    });
}

#[test]
fn unblock_runs_blocking_work_off_the_async_thread() {
    on_every_runtime(|rt| async move {
        let caller = std::thread::current().id();
        let (value, ran_on) = with_deadline(
            &rt,
            crate::runtime::unblock(&*rt, || (6 * 7, std::thread::current().id())),
        )
        .await
        .expect("the work ran");
        assert_eq!(value, 42);
        assert_ne!(ran_on, caller, "the work ran on the async thread");
        let panicked = with_deadline(
            &rt,
            crate::runtime::unblock(&*rt, || -> u8 { panic!("expected in this test") }),
        )
        .await;
        assert_eq!(panicked, None);
    });
}
