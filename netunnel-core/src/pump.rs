//! The byte pump: one TCP connection <-> one websocket, both directions at once.
//!
//! With NETunnel 1.0.x peers a connection ends by closing its websocket. When
//! both sides are ours (see [`crate::wire::END_MESSAGE`]) the websocket is handed
//! back instead: each side sends the end marker once it stops sending, and the
//! websocket is clean once both markers have crossed, so the next connection can
//! ride it without a new HTTP upgrade.

use std::time::Duration;

use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::lock::Mutex;
use futures::StreamExt;

use crate::instance::{record, TARGET_TUNNEL};
use crate::runtime::{timeout, BoxConn, Runtime};
use crate::wire::{END_MESSAGE, MAX_FRAME_PAYLOAD};
use crate::ws::{keep_alive, Activity, Heartbeat, WebSocket, WsReceiver, WsSender};

/// First read size; doubled while reads fill the buffer, up to one full frame.
/// Idle connections therefore hold a small buffer, bulk transfers full frames.
const INITIAL_READ: usize = 1024;

/// How long we try to deliver a close frame before dropping the socket.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How long the other side may take to send its end marker.
const END_GRACE: Duration = Duration::from_secs(5);

/// Why the websocket-to-TCP direction stopped.
enum Down {
    /// The peer sent its end marker (reusable websockets only).
    PeerEnded,
    /// The websocket closed or failed, or the TCP write failed; with the
    /// close frame that says why, when the other side broke the protocol.
    Gone(Option<CloseFrame>),
}

/// Carries bytes between `tcp` and `ws` until either side ends, errors, or `stop`
/// completes; then closes the TCP connection (NETunnel has no half-close).
/// With `reuse`, returns the websocket when it is clean for another connection;
/// otherwise (and on any failure) closes it and returns `None`.
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
    // `Some(true)`: our TCP side ended; `Some(false)`: the peer ended; `None`: failure.
    let mut why = None;
    let ended = {
        let up = std::pin::pin!(tcp_to_ws(tcp_read, &sender));
        let down = std::pin::pin!(ws_to_tcp(&mut receiver, tcp_write, &activity, reuse));
        let alive = std::pin::pin!(keep_alive(rt, heartbeat, &activity, &sender));
        match select(select(up, down), select(alive, stop)).await {
            Either::Left((Either::Left(_), _)) => Some(true),
            Either::Left((Either::Right((Down::PeerEnded, _)), _)) => Some(false),
            Either::Left((Either::Right((Down::Gone(reason), _)), _)) => {
                why = reason;
                None
            }
            Either::Right(_) => None,
        }
    };
    let mut sender = sender.into_inner();
    if let (true, Some(ours_first)) = (reuse, ended) {
        let handed_back = async {
            sender.send(Message::Text(END_MESSAGE.into())).await.ok()?;
            if ours_first {
                wait_for_end(&mut receiver).await?;
            }
            Some(())
        };
        if let Some(Some(())) = timeout(rt, END_GRACE, handed_back).await {
            return WebSocketStream::reunite(sender, receiver).ok();
        }
    }
    let _ = timeout(rt, CLOSE_GRACE, sender.close(why)).await;
    None
}

/// Discards what is still in flight of the finished connection, up to the
/// peer's end marker.
async fn wait_for_end(receiver: &mut WsReceiver) -> Option<()> {
    while let Some(message) = receiver.next().await {
        match while_ending(&message.ok()?) {
            Ending::Discard => {}
            Ending::Ended => return Some(()),
            Ending::Gone => return None,
        }
    }
    None
}

/// What a frame does to a websocket whose connection is ending: ours sent
/// its end marker and waits for the other side's.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// In flight for the finished connection (data, control frames): dropped.
    Discard,
    /// The other side's end marker: the websocket is clean again.
    Ended,
    /// Closed: it is not handed back.
    Gone,
}

fn while_ending(frame: &Message) -> Ending {
    match frame {
        Message::Text(text) if text.as_str() == END_MESSAGE => Ending::Ended,
        Message::Close(_) => Ending::Gone,
        _ => Ending::Discard,
    }
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

async fn tcp_to_ws(mut tcp: ReadHalf<BoxConn>, sender: &Mutex<WsSender>) {
    let mut want = INITIAL_READ;
    loop {
        // A buffer of exactly `want` per read: the frame takes it without a
        // copy, and an idle connection holds `want` bytes, no more.
        let mut buf = BytesMut::zeroed(want);
        let n = match tcp.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(err) => {
                record!(
                    debug,
                    TARGET_TUNNEL,
                    "tunnelled connection read failed: {err}"
                );
                return;
            }
        };
        buf.truncate(n);
        let frame = buf.freeze();
        if n == want && want < MAX_FRAME_PAYLOAD {
            want = (want * 2).min(MAX_FRAME_PAYLOAD);
        }
        if let Err(err) = sender.lock().await.send(Message::Binary(frame)).await {
            record!(debug, TARGET_TUNNEL, "websocket send failed: {err}");
            return;
        }
    }
}

async fn ws_to_tcp(
    receiver: &mut WsReceiver,
    mut tcp: WriteHalf<BoxConn>,
    activity: &Activity,
    reuse: bool,
) -> Down {
    while let Some(message) = receiver.next().await {
        activity.bump();
        let frame = match message {
            Ok(frame) => frame,
            Err(err) => {
                record!(debug, TARGET_TUNNEL, "websocket receive failed: {err}");
                return Down::Gone(crate::ws::close_for(&err));
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
                    return Down::Gone(None);
                }
            }
            Pumping::Skip => {}
            Pumping::PeerEnded => return Down::PeerEnded,
            Pumping::Gone => return Down::Gone(None),
        }
    }
    Down::Gone(None)
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

    #[test]
    fn while_ending_everything_but_the_marker_or_a_close_is_dropped() {
        assert_eq!(
            while_ending(&Message::Text(END_MESSAGE.into())),
            Ending::Ended
        );
        assert_eq!(while_ending(&Message::Close(None)), Ending::Gone);
        for dropped in [
            Message::Binary(b"late".to_vec().into()),
            Message::Binary(Default::default()),
            Message::Text(START_MESSAGE.into()),
            Message::Ping(Default::default()),
            Message::Pong(Default::default()),
        ] {
            assert_eq!(while_ending(&dropped), Ending::Discard, "{dropped:?}");
        }
    }
}
