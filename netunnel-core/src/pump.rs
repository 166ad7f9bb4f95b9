//! The byte pump: one TCP connection <-> one websocket, both directions at once.
//!
//! With NETunnel 1.0.x peers a connection ends by closing its websocket. When
//! both sides are ours (see [`crate::wire::END_MESSAGE`]) the websocket is handed
//! back instead: each side sends the end marker once it stops sending, and the
//! websocket is clean once both markers have crossed, so the next connection can
//! ride it without a new HTTP upgrade.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::lock::Mutex;
use futures::StreamExt;

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
    /// The websocket closed or failed, or the TCP write failed.
    Gone,
}

/// Carries bytes between `tcp` and `ws` until either side ends, errors, or `stop`
/// completes; then closes the TCP connection (NETunnel has no half-close).
/// With `reuse`, returns the websocket when it is clean for another connection;
/// otherwise (and on any failure) closes it and returns `None`.
pub async fn pump<S>(
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
    let ended = {
        let up = std::pin::pin!(tcp_to_ws(tcp_read, &sender));
        let down = std::pin::pin!(ws_to_tcp(&mut receiver, tcp_write, &activity, reuse));
        let alive = std::pin::pin!(keep_alive(rt, heartbeat, &activity, &sender));
        match select(select(up, down), select(alive, stop)).await {
            Either::Left((Either::Left(_), _)) => Some(true),
            Either::Left((Either::Right((Down::PeerEnded, _)), _)) => Some(false),
            Either::Left((Either::Right((Down::Gone, _)), _)) => None,
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
    let _ = timeout(rt, CLOSE_GRACE, sender.close(None)).await;
    None
}

/// Discards what is still in flight of the finished connection, up to the
/// peer's end marker.
async fn wait_for_end(receiver: &mut WsReceiver) -> Option<()> {
    while let Some(message) = receiver.next().await {
        match message.ok()? {
            Message::Text(text) if text.as_str() == END_MESSAGE => return Some(()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
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
                log::debug!("tunnelled connection read failed: {err}");
                return;
            }
        };
        buf.truncate(n);
        let frame = buf.freeze();
        if n == want && want < MAX_FRAME_PAYLOAD {
            want = (want * 2).min(MAX_FRAME_PAYLOAD);
        }
        if let Err(err) = sender.lock().await.send(Message::Binary(frame)).await {
            log::debug!("websocket send failed: {err}");
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
        match message {
            Ok(Message::Binary(data)) => {
                if data.is_empty() {
                    continue;
                }
                if let Err(err) = tcp.write_all(&data).await {
                    log::debug!("tunnelled connection write failed: {err}");
                    return Down::Gone;
                }
            }
            Ok(Message::Text(text)) if reuse && text.as_str() == END_MESSAGE => {
                return Down::PeerEnded
            }
            Ok(Message::Close(_)) => return Down::Gone,
            Ok(_) => {}
            Err(err) => {
                log::debug!("websocket receive failed: {err}");
                return Down::Gone;
            }
        }
    }
    Down::Gone
}
