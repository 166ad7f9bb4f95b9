//! The byte pump: one TCP connection <-> one websocket, both directions at once.
//!
//! With NETunnel 1.0.x peers a connection ends by closing its websocket, both
//! directions at once. When both sides are ours (see
//! [`crate::wire::END_MESSAGE`]) each direction ends on its own, as TCP's do:
//! a side whose TCP connection reached end of file sends the end marker, and
//! the side that receives it shuts down the writing half of its own TCP
//! connection while the other direction goes on. Once both markers have
//! crossed, the websocket is clean and is handed back, so the next connection
//! can ride it without a new HTTP upgrade.

use std::time::Duration;

use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use bytes::BytesMut;
use futures::future::{select, try_join, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::lock::Mutex;
use futures::StreamExt;

use crate::instance::{record, TARGET_TUNNEL};
use crate::runtime::{timeout, BoxConn, Runtime};
use crate::sync::StopSignal;
use crate::wire::{END_MESSAGE, MAX_FRAME_PAYLOAD};
use crate::ws::{keep_alive, Activity, Heartbeat, WebSocket, WsReceiver, WsSender};

/// First read size; doubled while reads fill the buffer, up to one full frame.
/// Idle connections therefore hold a small buffer, bulk transfers full frames.
const INITIAL_READ: usize = 1024;

/// How long we try to deliver a close frame before dropping the socket.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why one direction stopped without failing: it ended cleanly.
struct Ended;

/// Why a direction failed: the websocket closed or failed, or the TCP
/// connection did; with the close frame that says why, when the other side
/// broke the protocol.
struct Failed(Option<CloseFrame>);

/// Carries bytes between `tcp` and `ws` until both directions end (between
/// our own ends, `reuse`) or either does (1.0.x peers), until a failure, or
/// until `stop` completes; then closes the TCP connection. With `reuse`,
/// returns the websocket when it is clean for another connection; otherwise
/// (and on any failure) closes it and returns `None`.
pub(crate) async fn pump<S>(
    rt: &dyn Runtime,
    ws: WebSocket,
    tcp: BoxConn,
    heartbeat: Option<Heartbeat>,
    stop: S,
    reuse: bool,
) -> Option<WebSocket>
where
    S: std::future::Future<Output = ()> + Unpin,
{
    let (sender, mut receiver) = ws.split();
    let sender = Mutex::new(sender);
    let activity = Activity::default();
    let (tcp_read, tcp_write) = tcp.split();
    // Fired once our side stops sending, just before its end marker.
    let finishing = StopSignal::new();
    let outcome = {
        let up = up(tcp_read, &sender, reuse, &finishing);
        let down = ws_to_tcp(&mut receiver, tcp_write, &activity, reuse, &finishing);
        let carried = async {
            if reuse {
                try_join(up, down).await.map(|_| Ended)
            } else {
                // 1.0.x: the first direction to end ends the connection.
                match select(std::pin::pin!(up), std::pin::pin!(down)).await {
                    Either::Left((_, _)) => Err(Failed(None)),
                    Either::Right((done, _)) => done.and(Err(Failed(None))),
                }
            }
        };
        let alive = std::pin::pin!(keep_alive(rt, heartbeat, &activity, &sender));
        match select(std::pin::pin!(carried), select(alive, stop)).await {
            Either::Left((done, _)) => done,
            Either::Right(_) => Err(Failed(None)),
        }
    };
    let mut sender = sender.into_inner();
    match outcome {
        Ok(Ended) => WebSocketStream::reunite(sender, receiver).ok(),
        Err(Failed(why)) => {
            let _ = timeout(rt, CLOSE_GRACE, sender.close(why)).await;
            None
        }
    }
}

/// TCP to websocket until end of file; then, between our own ends, the end
/// marker (`finishing` fired just before it).
async fn up(
    tcp: ReadHalf<BoxConn>,
    sender: &Mutex<WsSender>,
    reuse: bool,
    finishing: &StopSignal,
) -> Result<Ended, Failed> {
    tcp_to_ws(tcp, sender).await?;
    finishing.fire();
    if reuse {
        let marker = Message::Text(END_MESSAGE.into());
        if let Err(err) = sender.lock().await.send(marker).await {
            record!(debug, TARGET_TUNNEL, "websocket send failed: {err}");
            return Err(Failed(None));
        }
    }
    Ok(Ended)
}

/// What a frame does to a websocket that carries a connection.
#[derive(Debug, PartialEq, Eq)]
enum Pumping {
    /// Bytes for the TCP connection.
    Write(bytes::Bytes),
    /// Nothing for the connection: a ping or pong (tungstenite answers pings),
    /// an empty binary frame (1.0.x sends one at EOF), a text frame other than
    /// the end marker (1.0.x's `pasten` rules allow them).
    Skip,
    /// The other side's end marker (between our own ends only).
    PeerEnded,
    /// Closed.
    Gone,
}

fn while_pumping(frame: Message, reuse: bool) -> Pumping {
    match frame {
        Message::Binary(data) if data.is_empty() => Pumping::Skip,
        Message::Binary(data) => Pumping::Write(data),
        Message::Text(text) if reuse && text.as_str() == END_MESSAGE => Pumping::PeerEnded,
        Message::Close(_) => Pumping::Gone,
        Message::Text(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Pumping::Skip,
    }
}

/// Reads `tcp` into binary frames until end of file (`Ok`) or a failure.
async fn tcp_to_ws(mut tcp: ReadHalf<BoxConn>, sender: &Mutex<WsSender>) -> Result<(), Failed> {
    let mut want = INITIAL_READ;
    loop {
        // A buffer of exactly `want` per read: the frame takes it without a
        // copy, and an idle connection holds `want` bytes, no more.
        let mut buf = BytesMut::zeroed(want);
        let n = match tcp.read(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) => {
                record!(
                    debug,
                    TARGET_TUNNEL,
                    "tunnelled connection read failed: {err}"
                );
                return Err(Failed(None));
            }
        };
        buf.truncate(n);
        let frame = buf.freeze();
        if n == want && want < MAX_FRAME_PAYLOAD {
            want = (want * 2).min(MAX_FRAME_PAYLOAD);
        }
        if let Err(err) = sender.lock().await.send(Message::Binary(frame)).await {
            record!(debug, TARGET_TUNNEL, "websocket send failed: {err}");
            return Err(Failed(None));
        }
    }
}

/// Websocket to TCP until the other side's end marker (our own ends only),
/// then shuts down the writing half of `tcp`: the connection's user reads
/// end of file there while its own sending goes on. Until our side finishes
/// too (`finishing`), the websocket is still read, so that the heartbeat
/// sees the other side's pongs; no frame is read past it, as the next
/// connection's may follow our end marker.
async fn ws_to_tcp(
    receiver: &mut WsReceiver,
    mut tcp: WriteHalf<BoxConn>,
    activity: &Activity,
    reuse: bool,
    finishing: &StopSignal,
) -> Result<Ended, Failed> {
    while let Some(message) = receiver.next().await {
        activity.bump();
        let frame = match message {
            Ok(frame) => frame,
            Err(err) => {
                record!(debug, TARGET_TUNNEL, "websocket receive failed: {err}");
                return Err(Failed(crate::ws::close_for(&err)));
            }
        };
        match while_pumping(frame, reuse) {
            Pumping::Write(data) => {
                if let Err(err) = tcp.write_all(&data).await {
                    record!(
                        debug,
                        TARGET_TUNNEL,
                        "tunnelled connection write failed: {err}"
                    );
                    return Err(Failed(None));
                }
            }
            Pumping::Skip => {}
            Pumping::PeerEnded => {
                // A failure here (the user already gone) shows in the other
                // direction.
                let _ = tcp.close().await;
                return after_end(receiver, activity, finishing).await;
            }
            Pumping::Gone => return Err(Failed(None)),
        }
    }
    Err(Failed(None))
}

/// After the other side's end marker: reads (and counts) what still comes,
/// pings and pongs, until our side finishes. Anything else ends the
/// websocket: a closed one, and data after the marker.
async fn after_end(
    receiver: &mut WsReceiver,
    activity: &Activity,
    finishing: &StopSignal,
) -> Result<Ended, Failed> {
    let mut finished = finishing.wait();
    loop {
        // Our end first: once it is fired, not one more frame is read.
        match select(&mut finished, receiver.next()).await {
            Either::Left(_) => return Ok(Ended),
            Either::Right((Some(Ok(Message::Ping(_) | Message::Pong(_))), _)) => activity.bump(),
            Either::Right((Some(Err(err)), _)) => return Err(Failed(crate::ws::close_for(&err))),
            Either::Right(_) => return Err(Failed(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::START_MESSAGE;

    #[test]
    fn while_pumping_only_data_reaches_the_connection() {
        let data = bytes::Bytes::from_static(b"SSH-2.0-x\r\n");
        for reuse in [true, false] {
            assert_eq!(
                while_pumping(Message::Binary(data.clone()), reuse),
                Pumping::Write(data.clone())
            );
            for skipped in [
                Message::Binary(Default::default()),
                Message::Text(START_MESSAGE.into()),
                Message::Text("other".into()),
                Message::Ping(Default::default()),
                Message::Pong(Default::default()),
            ] {
                assert_eq!(
                    while_pumping(skipped.clone(), reuse),
                    Pumping::Skip,
                    "{skipped:?}"
                );
            }
            assert_eq!(while_pumping(Message::Close(None), reuse), Pumping::Gone);
        }
    }

    #[test]
    fn while_pumping_the_end_marker_ends_only_between_our_own_ends() {
        let end = || Message::Text(END_MESSAGE.into());
        assert_eq!(while_pumping(end(), true), Pumping::PeerEnded);
        // A 1.0.x peer never sends it; if a text frame says so, it is just text.
        assert_eq!(while_pumping(end(), false), Pumping::Skip);
    }
}
