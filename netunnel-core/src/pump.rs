//! The byte pump: one TCP connection <-> one websocket, both directions at once.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::lock::Mutex;
use futures::StreamExt;

use crate::runtime::{timeout, BoxConn, Runtime};
use crate::wire::MAX_FRAME_PAYLOAD;
use crate::ws::{keep_alive, Activity, Heartbeat, WebSocket, WsReceiver, WsSender};

/// First read size; doubled while reads fill the buffer, up to one full frame.
/// Idle connections therefore hold a small buffer, bulk transfers full frames.
const INITIAL_READ: usize = 4 * 1024;

/// How long we try to deliver a close frame before dropping the socket.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Carries bytes between `tcp` and `ws` until either side ends, errors, or `stop`
/// completes; then closes both (NETunnel has no half-close).
pub async fn pump<S>(
    rt: &dyn Runtime,
    ws: WebSocket,
    tcp: BoxConn,
    heartbeat: Option<Heartbeat>,
    stop: S,
) where
    S: std::future::Future<Output = ()> + Unpin,
{
    let (sender, receiver) = ws.split();
    let sender = Mutex::new(sender);
    let activity = Activity::default();
    let (tcp_read, tcp_write) = tcp.split();
    {
        let up = std::pin::pin!(tcp_to_ws(tcp_read, &sender));
        let down = std::pin::pin!(ws_to_tcp(receiver, tcp_write, &activity));
        let alive = std::pin::pin!(keep_alive(rt, heartbeat, &activity, &sender));
        let work = select(select(up, down), alive);
        match select(work, stop).await {
            Either::Left(_) => {}
            Either::Right(_) => log::debug!("connection stopped with its tunnel"),
        }
    }
    let mut sender = sender.lock().await;
    let _ = timeout(rt, CLOSE_GRACE, sender.close(None)).await;
}

async fn tcp_to_ws(mut tcp: ReadHalf<BoxConn>, sender: &Mutex<WsSender>) {
    let mut want = INITIAL_READ;
    let mut buf = BytesMut::new();
    loop {
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let n = match tcp.read(&mut buf[..want]).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(err) => {
                log::debug!("tunnelled connection read failed: {err}");
                return;
            }
        };
        let frame = buf.split_to(n).freeze();
        if n == want && want < MAX_FRAME_PAYLOAD {
            want = (want * 2).min(MAX_FRAME_PAYLOAD);
        }
        if let Err(err) = sender.lock().await.send(Message::Binary(frame)).await {
            log::debug!("websocket send failed: {err}");
            return;
        }
    }
}

async fn ws_to_tcp(mut receiver: WsReceiver, mut tcp: WriteHalf<BoxConn>, activity: &Activity) {
    while let Some(message) = receiver.next().await {
        activity.bump();
        match message {
            Ok(Message::Binary(data)) => {
                if data.is_empty() {
                    continue;
                }
                if let Err(err) = tcp.write_all(&data).await {
                    log::debug!("tunnelled connection write failed: {err}");
                    return;
                }
            }
            Ok(Message::Close(_)) => return,
            Ok(_) => {}
            Err(err) => {
                log::debug!("websocket receive failed: {err}");
                return;
            }
        }
    }
}
