//! The states of a tunnel websocket under time: pings and pongs on idle
//! spares and on exits waiting for `pasten`, fresh or handed back, never start
//! a connection; a frame that has no place on an idle websocket closes it.
//! Runs on smol and async-std, in process, with heartbeats of milliseconds.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::in_process::*;
use crate::tunnel::{Entrance, Exit, SpareSettings, SpareSource};
use crate::wire::{END_MESSAGE, START_MESSAGE};
use crate::ws::{Heartbeat, WebSocket};
use crate::RuntimeRef;
use async_tungstenite::tungstenite::Message;
use futures::future::BoxFuture;
use futures::{AsyncReadExt, AsyncWriteExt, SinkExt, StreamExt};

/// A heartbeat short enough that a test idles past it many times.
const FAST: Heartbeat = Heartbeat {
    idle: Duration::from_millis(50),
    timeout: Duration::from_millis(500),
};

/// A destination whose pending connections the test inspects without
/// accepting them: a connection the exit made is in the kernel's accept queue
/// as soon as the exit's `connect` returned.
struct Destination(TcpListener);

impl Destination {
    fn new() -> Destination {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Destination(listener)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// Takes every connection made so far.
    fn take_made(&self) -> Vec<std::net::TcpStream> {
        let mut made = Vec::new();
        loop {
            match self.0.accept() {
                Ok((stream, _)) => made.push(stream),
                Err(err) if err.kind() == ErrorKind::WouldBlock => return made,
                Err(err) => panic!("accept: {err}"),
            }
        }
    }

    /// Waits for exactly one new connection.
    async fn one(&self, rt: &RuntimeRef) -> std::net::TcpStream {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut made = self.take_made();
            match made.len() {
                0 => {}
                1 => return made.remove(0),
                n => panic!("{n} connections where one was asked for"),
            }
            assert!(Instant::now() < deadline, "the exit never connected");
            rt.sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Reads frames until one matches `wanted`; every other frame must be a
/// control frame.
async fn read_until(rt: &RuntimeRef, ws: &mut WebSocket, wanted: Message) {
    with_deadline(rt, async {
        loop {
            match ws.next().await {
                Some(Ok(frame)) if frame == wanted => return,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("waiting for {wanted:?}, got {other:?}"),
            }
        }
    })
    .await;
}

/// Waits for the other side to close `ws`; anything but control frames
/// meanwhile fails the test (`what` says when).
async fn until_closed(rt: &RuntimeRef, ws: &mut WebSocket, what: &str) {
    with_deadline(rt, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("{what}: got {other:?}"),
            }
        }
    })
    .await;
}

/// Sends a ping and waits for its pong: the other side has read (and acted
/// on) everything sent before it.
async fn round_trip(rt: &RuntimeRef, ws: &mut WebSocket, tag: &str) {
    let tag = tag.as_bytes().to_vec();
    ws.send(Message::Ping(tag.clone().into())).await.unwrap();
    read_until(rt, ws, Message::Pong(tag.into())).await;
}

#[test]
fn pings_and_pongs_never_make_a_waiting_exit_connect() {
    on_every_runtime(|rt| async move {
        let destination = Destination::new();
        let exit = Exit::new(
            rt.clone(),
            "127.0.0.1".into(),
            destination.port(),
            None,
            true,
            crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Exit),
        );
        let (exit_side, mut entrance_side) = ws_pair(&rt).await;
        exit.serve(exit_side);
        for round in 0..3 {
            // Idle, fresh (round 0) or handed back (after): control frames only.
            entrance_side
                .send(Message::Pong(Default::default()))
                .await
                .unwrap();
            round_trip(&rt, &mut entrance_side, "first").await;
            round_trip(&rt, &mut entrance_side, "second").await;
            assert_eq!(
                destination.take_made().len(),
                0,
                "round {round}: the exit connected with no `pasten`"
            );
            // `pasten`: exactly one connection; it carries bytes both ways.
            entrance_side
                .send(Message::Text(START_MESSAGE.into()))
                .await
                .unwrap();
            let mut service = destination.one(&rt).await;
            std::io::Write::write_all(&mut service, b"greeting").unwrap();
            read_until(
                &rt,
                &mut entrance_side,
                Message::Binary(b"greeting".to_vec().into()),
            )
            .await;
            // A ping in the middle of the connection changes nothing.
            round_trip(&rt, &mut entrance_side, "middle").await;
            // The service ends first: its end marker, then ours back.
            drop(service);
            read_until(&rt, &mut entrance_side, Message::Text(END_MESSAGE.into())).await;
            entrance_side
                .send(Message::Text(END_MESSAGE.into()))
                .await
                .unwrap();
        }
        round_trip(&rt, &mut entrance_side, "last").await;
        assert_eq!(destination.take_made().len(), 0);
        exit.stop();
    });
}

#[test]
fn the_pong_to_an_exits_own_ping_never_makes_it_connect() {
    // Our client's exit (a reverse tunnel) pings its idle websockets itself.
    on_every_runtime(|rt| async move {
        let destination = Destination::new();
        let exit = Exit::new(
            rt.clone(),
            "127.0.0.1".into(),
            destination.port(),
            Some(FAST),
            true,
            crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Exit),
        );
        let (exit_side, mut entrance_side) = ws_pair(&rt).await;
        exit.serve(exit_side);
        for _ in 0..3 {
            let first = with_deadline(&rt, entrance_side.next()).await;
            assert!(
                matches!(first, Some(Ok(Message::Ping(_)))),
                "expected the exit's ping, got {first:?}"
            );
            // Send the pong tungstenite queued, then make sure the exit read it.
            entrance_side.flush().await.unwrap();
            round_trip(&rt, &mut entrance_side, "after the pong").await;
            assert_eq!(
                destination.take_made().len(),
                0,
                "a pong made the exit connect"
            );
        }
        entrance_side
            .send(Message::Text(START_MESSAGE.into()))
            .await
            .unwrap();
        destination.one(&rt).await;
        exit.stop();
    });
}

#[test]
fn data_before_pasten_closes_the_websocket_without_connecting() {
    on_every_runtime(|rt| async move {
        let destination = Destination::new();
        for early in [
            Message::Binary(b"SSH-2.0-early".to_vec().into()),
            Message::Text("not pasten".into()),
            Message::Text(END_MESSAGE.into()),
        ] {
            let exit = Exit::new(
                rt.clone(),
                "127.0.0.1".into(),
                destination.port(),
                None,
                true,
                crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Exit),
            );
            let (exit_side, mut entrance_side) = ws_pair(&rt).await;
            exit.serve(exit_side);
            entrance_side.send(early.clone()).await.unwrap();
            until_closed(&rt, &mut entrance_side, &format!("after {early:?}")).await;
            with_deadline(&rt, exit.wait_stopped()).await;
            assert_eq!(
                destination.take_made().len(),
                0,
                "connected after {early:?}"
            );
        }
    });
}

/// Spares made as websocket pairs in process: the entrance gets one end, the
/// test the other, through `far_ends`.
struct Pairs {
    rt: RuntimeRef,
    far_ends: async_channel::Sender<WebSocket>,
}

impl SpareSource for Pairs {
    fn open(&self) -> BoxFuture<'static, crate::Result<Option<WebSocket>>> {
        let rt = self.rt.clone();
        let far_ends = self.far_ends.clone();
        Box::pin(async move {
            let (near, far) = ws_pair(&rt).await;
            far_ends.send(far).await.unwrap();
            Ok(Some(near))
        })
    }
}

#[test]
fn an_idle_spare_answers_pings_and_closes_on_data_for_no_connection() {
    on_every_runtime(|rt| async move {
        let (far_ends, spares) = async_channel::unbounded();
        let source = Arc::new(Pairs {
            rt: rt.clone(),
            far_ends,
        });
        let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
        let entrance = Entrance::start(
            rt.clone(),
            listener,
            source,
            SpareSettings::new(Some(FAST)),
            true,
            crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Entrance),
        )
        .unwrap();
        with_deadline(&rt, entrance.wait_ready()).await;
        let mut first = spares.recv().await.unwrap();
        // Pings either way: the spare stays (it pings too, after FAST.idle).
        for round in 0..3 {
            round_trip(&rt, &mut first, &format!("round {round}")).await;
        }
        // Data on an idle spare belongs to no connection: the spare is closed
        // and another one is opened.
        first
            .send(Message::Binary(b"stray".to_vec().into()))
            .await
            .unwrap();
        until_closed(&rt, &mut first, "the spare answered data").await;
        let mut second = with_deadline(&rt, spares.recv()).await.unwrap();
        // A connection rides the new spare, announced by `pasten`.
        let port = entrance.local_addr().port();
        let mut app = rt.connect("127.0.0.1".into(), port).await.unwrap();
        read_until(&rt, &mut second, Message::Text(START_MESSAGE.into())).await;
        app.write_all(b"ping").await.unwrap();
        read_until(&rt, &mut second, Message::Binary(b"ping".to_vec().into())).await;
        entrance.stop();
    });
}

/// A service that sends `hello` and closes at once, counting its connections.
async fn greeter(rt: &RuntimeRef, count: Arc<AtomicUsize>) -> u16 {
    let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(Box::pin(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = conn.write_all(b"hello").await;
        }
    }));
    port
}

#[test]
fn a_service_that_speaks_first_gets_through_after_idle_on_every_heartbeat_pairing() {
    on_every_runtime(|rt| async move {
        // Our client's entrance pings (forward); our client's exit pings (reverse).
        for (entrance_heartbeat, exit_heartbeat) in [(Some(FAST), None), (None, Some(FAST))] {
            for reuse in [true, false] {
                let count = Arc::new(AtomicUsize::new(0));
                let port = greeter(&rt, count.clone()).await;
                let (entrance, exit, _) =
                    tunnel_with(&rt, port, reuse, entrance_heartbeat, exit_heartbeat).await;
                let mut made = 0;
                for round in 0..4 {
                    // Idle past the heartbeat several times over.
                    rt.sleep(FAST.idle * 6).await;
                    assert_eq!(
                        count.load(Ordering::SeqCst),
                        made,
                        "reuse {reuse}, round {round}: the exit connected while idle"
                    );
                    for _ in 0..3 {
                        let mut app = rt
                            .connect("127.0.0.1".into(), entrance.local_addr().port())
                            .await
                            .unwrap();
                        let mut all = Vec::new();
                        with_deadline(&rt, app.read_to_end(&mut all)).await.unwrap();
                        assert_eq!(all, b"hello", "reuse {reuse}, round {round}");
                        made += 1;
                    }
                    assert_eq!(count.load(Ordering::SeqCst), made);
                }
                entrance.stop();
                exit.stop();
            }
        }
    });
}

#[test]
fn pings_in_the_middle_of_a_slow_transfer_change_no_byte() {
    on_every_runtime(|rt| async move {
        let echo = echo_service(&rt).await;
        let (entrance, exit, _) = tunnel_with(&rt, echo, true, Some(FAST), Some(FAST)).await;
        for connection in 0..3u8 {
            let conn = rt
                .connect("127.0.0.1".into(), entrance.local_addr().port())
                .await
                .unwrap();
            let (mut reader, mut writer) = conn.split();
            let chunks: Vec<Vec<u8>> = (0..5u8)
                .map(|i| vec![connection * 16 + i; 1000 + usize::from(i) * 7000])
                .collect();
            let expected: Vec<u8> = chunks.concat();
            let rt2 = rt.clone();
            let send = async move {
                for chunk in chunks {
                    writer.write_all(&chunk).await.unwrap();
                    // Silent for longer than the heartbeat: both ends ping.
                    rt2.sleep(FAST.idle * 3).await;
                }
                writer
            };
            let receive = async {
                let mut back = vec![0u8; expected.len()];
                reader.read_exact(&mut back).await.unwrap();
                back
            };
            let (_writer, back) = with_deadline(&rt, futures::future::join(send, receive)).await;
            assert!(back == expected, "bytes changed in connection {connection}");
        }
        entrance.stop();
        exit.stop();
    });
}

/// Plays the exit on every spare `spares` hands out: on `pasten` it holds the
/// connection until `release` closes, then ends it; counts what it saw.
#[derive(Default)]
struct ExitPlay {
    created: AtomicUsize,
    started: AtomicUsize,
    closed: AtomicUsize,
}

impl ExitPlay {
    fn run(
        self: &Arc<Self>,
        rt: &RuntimeRef,
        spares: async_channel::Receiver<WebSocket>,
        release: async_channel::Receiver<()>,
    ) {
        let play = Arc::clone(self);
        let spawner = rt.clone();
        rt.spawn(Box::pin(async move {
            while let Ok(mut far) = spares.recv().await {
                play.created.fetch_add(1, Ordering::SeqCst);
                let play = Arc::clone(&play);
                let release = release.clone();
                spawner.spawn(Box::pin(async move {
                    while let Some(Ok(frame)) = far.next().await {
                        match frame {
                            Message::Text(text) if text.as_str() == START_MESSAGE => {
                                play.started.fetch_add(1, Ordering::SeqCst);
                                let _ = release.recv().await;
                                if far.send(Message::Text(END_MESSAGE.into())).await.is_err() {
                                    break;
                                }
                            }
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                    play.closed.fetch_add(1, Ordering::SeqCst);
                }));
            }
        }));
    }
}

#[test]
fn spares_left_by_a_burst_are_let_go_down_to_one() {
    on_every_runtime(|rt| async move {
        let (far_ends, spares) = async_channel::unbounded();
        let source = Arc::new(Pairs {
            rt: rt.clone(),
            far_ends,
        });
        let play = Arc::new(ExitPlay::default());
        let (release_all, release) = async_channel::bounded::<()>(1);
        play.run(&rt, spares, release);
        let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
        let settings = SpareSettings {
            heartbeat: None,
            linger: Duration::from_millis(300),
            max_connections: usize::MAX,
        };
        let entrance = Entrance::start(
            rt.clone(),
            listener,
            source,
            settings,
            true,
            crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Entrance),
        )
        .unwrap();
        with_deadline(&rt, entrance.wait_ready()).await;
        let port = entrance.local_addr().port();
        // Four connections at once, each holding a spare of its own.
        let mut apps = Vec::new();
        for _ in 0..4 {
            apps.push(rt.connect("127.0.0.1".into(), port).await.unwrap());
        }
        until(&rt, || play.started.load(Ordering::SeqCst) == 4).await;
        // The exits end them: each app reads end of file, and once it has
        // closed its side too, its websocket comes back as a spare.
        drop(release_all);
        for mut app in apps {
            let mut rest = Vec::new();
            with_deadline(&rt, app.read_to_end(&mut rest))
                .await
                .unwrap();
            assert!(rest.is_empty());
        }
        until(&rt, || entrance.idle_spares() >= 4).await;
        // Then all but one close once they lingered, never the last one.
        until(&rt, || {
            assert!(entrance.idle_spares() >= 1, "every spare was let go");
            play.closed.load(Ordering::SeqCst) + 1 == play.created.load(Ordering::SeqCst)
        })
        .await;
        assert_eq!(entrance.idle_spares(), 1);
        entrance.stop();
    });
}

#[test]
fn an_idle_spare_whose_peer_went_silent_is_replaced() {
    on_every_runtime(|rt| async move {
        let (far_ends, spares) = async_channel::unbounded();
        let source = Arc::new(Pairs {
            rt: rt.clone(),
            far_ends,
        });
        let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
        // Linger as long as the heartbeat, as our ends have it.
        let settings = SpareSettings::new(Some(FAST));
        let entrance = Entrance::start(
            rt.clone(),
            listener,
            source,
            settings,
            true,
            crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Entrance),
        )
        .unwrap();
        with_deadline(&rt, entrance.wait_ready()).await;
        // The far end never reads, so it never answers the spare's ping.
        let silent = spares.recv().await.unwrap();
        let started = Instant::now();
        let replacement = with_deadline(&rt, spares.recv()).await.unwrap();
        let took = started.elapsed();
        assert!(
            took < (FAST.idle + FAST.timeout) * 4,
            "a silent spare was replaced only after {took:?}"
        );
        drop((silent, replacement));
        entrance.stop();
    });
}
