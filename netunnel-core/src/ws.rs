//! Websocket types shared by the channel and the tunnels, and the heartbeat.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures::lock::Mutex;

use crate::instance::{record, TARGET_TUNNEL};
use crate::runtime::{BoxConn, Runtime};

/// A websocket over any [`crate::Conn`].
pub(crate) type WebSocket = WebSocketStream<BoxConn>;
/// The sending half of a [`WebSocket`].
pub(crate) type WsSender = WebSocketSender<BoxConn>;
/// The receiving half of a [`WebSocket`].
pub(crate) type WsReceiver = WebSocketReceiver<BoxConn>;

/// A connection whose websocket handshake is complete, not yet read as a
/// websocket: what a [`crate::transport::Transport`] hands the client core, and
/// what an HTTP server hands [`crate::server::ServerCore`]. Keeps the websocket
/// library out of the public API.
pub struct Upgraded {
    conn: BoxConn,
    read_past_head: Vec<u8>,
}

impl Upgraded {
    /// `conn` after the handshake; `read_past_head` is whatever was read past
    /// the end of the HTTP head (the first frames, when the peer sent them
    /// with its answer), handed on before anything read from `conn`.
    pub fn new(conn: BoxConn, read_past_head: Vec<u8>) -> Self {
        Upgraded {
            conn,
            read_past_head,
        }
    }

    /// The connection and the bytes read past the head, for a caller that
    /// speaks websocket itself.
    pub fn into_parts(self) -> (BoxConn, Vec<u8>) {
        (self.conn, self.read_past_head)
    }

    /// The websocket of the side that sent the upgrade request.
    pub(crate) async fn into_client(self) -> WebSocket {
        WebSocketStream::from_partially_read(
            self.conn,
            self.read_past_head,
            Role::Client,
            Some(config()),
        )
        .await
    }

    /// The websocket of the side that answered the upgrade request.
    pub(crate) async fn into_server(self) -> WebSocket {
        WebSocketStream::from_partially_read(
            self.conn,
            self.read_past_head,
            Role::Server,
            Some(config()),
        )
        .await
    }
}

impl std::fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgraded")
            .field("read_past_head", &self.read_past_head.len())
            .finish_non_exhaustive()
    }
}

/// Prepares a connection to carry a websocket: reads are batched while the
/// traffic is bulk (see [`crate::read_ahead`]). Only transports make
/// websockets: without the frontend, nothing in the library calls it.
#[cfg_attr(not(feature = "async-std"), allow(dead_code))]
pub(crate) fn over(conn: BoxConn) -> BoxConn {
    Box::new(crate::read_ahead::ReadAhead::new(conn))
}

/// Websocket settings for every socket we open or accept.
///
/// tungstenite's defaults allocate (and zero) 128 KiB per socket; a tunnel holds
/// one websocket per connection, so we keep its read buffer at 2 KiB (larger
/// frames are assembled across reads, which [`over`]'s read-ahead serves from
/// memory during bulk transfers) and write eagerly.
pub(crate) fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(4 << 20)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// The largest message (and frame) accepted from the other side: 16 times
/// the largest either NETunnel sends (64 KiB of data; control documents are
/// a few hundred bytes), and what one websocket of a hostile peer can make
/// us hold.
pub(crate) const MAX_MESSAGE: usize = 1 << 20;

/// The close frame that tells the other side why its frames were refused:
/// too large (1009), not valid UTF-8 text (1007) or not the protocol (1002).
/// `None` for failures where the connection is gone anyway.
pub(crate) fn close_for(err: &async_tungstenite::tungstenite::Error) -> Option<CloseFrame> {
    use async_tungstenite::tungstenite::Error as E;
    let code = match err {
        E::Capacity(_) => CloseCode::Size,
        E::Utf8(_) => CloseCode::Invalid,
        E::Protocol(_) | E::AttackAttempt => CloseCode::Protocol,
        _ => return None,
    };
    Some(reason(code, &err.to_string()))
}

/// A close frame with `text` as its reason, cut to what a close frame holds
/// (123 bytes) at a character boundary.
pub(crate) fn reason(code: CloseCode, text: &str) -> CloseFrame {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: text[..end].to_string().into(),
    }
}

/// Keep-alive of one websocket: after `idle` with nothing received, ping; when
/// nothing arrives within `timeout` after that, the websocket is considered dead.
/// (NETunnel 1.0.x clients use 20 s and 10 s on every websocket they open.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Silence before a ping is sent.
    pub idle: Duration,
    /// How long to wait for any frame after the ping.
    pub timeout: Duration,
}

impl Heartbeat {
    /// The default silence before a ping: 20 s, as NETunnel 1.0.x.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(20);

    /// Pings after `interval` of silence and gives up half an `interval` after
    /// the ping, the proportions of NETunnel 1.0.x (20 s, then 10 s).
    pub fn every(interval: Duration) -> Heartbeat {
        Heartbeat {
            idle: interval,
            timeout: interval / 2,
        }
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::every(Heartbeat::DEFAULT_INTERVAL)
    }
}

/// Counts frames received, so the heartbeat can tell silence from traffic.
#[derive(Debug, Default)]
pub(crate) struct Activity(AtomicU64);

impl Activity {
    /// Records one received frame.
    pub(crate) fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs the heartbeat until the peer stops answering (then returns) or, with
/// `heartbeat` `None`, forever.
pub(crate) async fn keep_alive(
    rt: &dyn Runtime,
    heartbeat: Option<Heartbeat>,
    activity: &Activity,
    sender: &Mutex<WsSender>,
) {
    let Some(heartbeat) = heartbeat else {
        return futures::future::pending().await;
    };
    let mut seen = activity.get();
    loop {
        rt.sleep(heartbeat.idle).await;
        let now = activity.get();
        if now != seen {
            seen = now;
            continue;
        }
        if sender
            .lock()
            .await
            .send(Message::Ping(Default::default()))
            .await
            .is_err()
        {
            return;
        }
        rt.sleep(heartbeat.timeout).await;
        let now = activity.get();
        if now == seen {
            record!(
                debug,
                TARGET_TUNNEL,
                "websocket silent after a ping; closing it"
            );
            return;
        }
        seen = now;
    }
}

/// Waits for the next frame of an idle websocket (a spare, or an exit waiting
/// for its first frame), pinging it per `heartbeat`. `None` when the websocket
/// closed, failed or stopped answering.
pub(crate) async fn next_frame(
    rt: &dyn Runtime,
    ws: &mut WebSocket,
    heartbeat: Option<Heartbeat>,
) -> Option<Message> {
    use futures::StreamExt;
    let Some(heartbeat) = heartbeat else {
        return ws.next().await.and_then(Result::ok);
    };
    let mut pinged = false;
    loop {
        let wait = if pinged {
            heartbeat.timeout
        } else {
            heartbeat.idle
        };
        match crate::runtime::timeout(rt, wait, ws.next()).await {
            Some(frame) => return frame.and_then(Result::ok),
            None if pinged => return None,
            None => {
                ws.send(Message::Ping(Default::default())).await.ok()?;
                pinged = true;
            }
        }
    }
}
