//! The control channel: requests and responses correlated by `_identifier` over
//! one websocket, plus its heartbeat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use bson::Document;
use futures::channel::oneshot;
use futures::future::{select, BoxFuture, Either};
use futures::lock::Mutex;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::instance::{record, TARGET_CHANNEL};
use crate::runtime::RuntimeRef;
use crate::sync::StopSignal;
use crate::wire::{ControlFrame, ControlMessage};
use crate::ws::{keep_alive, Activity, Heartbeat, WebSocket, WsReceiver, WsSender};

/// Answers the requests the other side sends over a channel.
pub(crate) trait MessageHandler: Send + Sync {
    /// Handles one request; `Err` becomes the response's `error`.
    fn handle(&self, message: ControlMessage) -> BoxFuture<'static, Result<(), String>>;
}

/// Answers every request with an empty success, as a NETunnel 1.0.x server does.
#[derive(Debug, Default)]
pub(crate) struct AcceptAll;

impl MessageHandler for AcceptAll {
    fn handle(&self, _message: ControlMessage) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// Requests from the other side answered at once; past it, reading waits.
const MAX_ANSWERING: usize = 64;

type Pending = HashMap<i64, oneshot::Sender<(Document, Option<String>)>>;

/// One end of a control channel.
pub(crate) struct Channel {
    id: u64,
    sender: Mutex<WsSender>,
    next_identifier: AtomicI64,
    pending: std::sync::Mutex<Pending>,
    closed: StopSignal,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("closed", &self.closed.is_fired())
            .finish()
    }
}

impl Channel {
    /// Wraps an established websocket. Run [`Channel::serve`] with the returned
    /// receiver, or nothing is ever received.
    pub(crate) fn new(id: u64, ws: WebSocket) -> (Arc<Channel>, WsReceiver) {
        let (sender, receiver) = ws.split();
        let channel = Arc::new(Channel {
            id,
            sender: Mutex::new(sender),
            next_identifier: AtomicI64::new(1),
            pending: std::sync::Mutex::new(HashMap::new()),
            closed: StopSignal::new(),
        });
        (channel, receiver)
    }

    /// The channel's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether the channel has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_fired()
    }

    /// Completes when the channel has ended.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + Unpin + 'static {
        self.closed.wait()
    }

    /// Ends the channel (the other side sees the websocket close).
    pub(crate) fn close(&self) {
        self.closed.fire();
    }

    /// Sends `message` and waits for its response.
    pub(crate) async fn request(&self, message: ControlMessage) -> Result<Document> {
        if self.is_closed() {
            return Err(Error::ChannelClosed);
        }
        let identifier = self.next_identifier.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending_map().insert(identifier, tx);
        let frame = ControlFrame::Message {
            identifier,
            message,
        };
        if let Err(err) = self.send(frame).await {
            self.pending_map().remove(&identifier);
            return Err(err);
        }
        match rx.await {
            Ok((data, None)) => Ok(data),
            Ok((_, Some(error))) => Err(Error::remote(error)),
            Err(_) => Err(Error::ChannelClosed),
        }
    }

    fn pending_map(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn send(&self, frame: ControlFrame) -> Result<()> {
        let bytes = frame.encode();
        self.sender
            .lock()
            .await
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|_| Error::ChannelClosed)
    }

    /// Receives until the websocket closes, the heartbeat fails or
    /// [`Channel::close`] is called; then marks the channel closed.
    pub(crate) async fn serve(
        self: Arc<Self>,
        rt: RuntimeRef,
        receiver: WsReceiver,
        handler: Arc<dyn MessageHandler>,
        heartbeat: Option<Heartbeat>,
    ) {
        let activity = Activity::default();
        let mut reason = None;
        {
            let receive = std::pin::pin!(self.receive_loop(receiver, handler, &activity));
            let alive = std::pin::pin!(keep_alive(&*rt, heartbeat, &activity, &self.sender));
            let stop = self.closed.wait();
            match select(select(receive, alive), stop).await {
                Either::Left((Either::Left((why, _)), _)) => reason = why,
                Either::Left((Either::Right(_), _)) => record!(
                    warn,
                    TARGET_CHANNEL,
                    "control channel {} stopped answering pings; closing it",
                    self.id
                ),
                Either::Right(_) => {}
            }
        }
        self.closed.fire();
        self.pending_map().clear();
        let mut sender = self.sender.lock().await;
        let _ = crate::runtime::timeout(
            &*rt,
            std::time::Duration::from_secs(2),
            sender.close(reason),
        )
        .await;
        record!(debug, TARGET_CHANNEL, "control channel {} closed", self.id);
    }

    async fn receive_loop(
        self: &Arc<Self>,
        receiver: WsReceiver,
        handler: Arc<dyn MessageHandler>,
        activity: &Activity,
    ) -> Option<CloseFrame> {
        use futures::stream::FuturesUnordered;
        let mut receiver = receiver;
        // Answers being worked out and sent. At the bound nothing more is
        // read, so a peer that sends requests and never reads the answers
        // fills its own buffers, not ours.
        let mut answering = FuturesUnordered::new();
        loop {
            let next = if answering.is_empty() {
                receiver.next().await
            } else if answering.len() >= MAX_ANSWERING {
                answering.next().await;
                continue;
            } else {
                match select(receiver.next(), answering.next()).await {
                    Either::Left((next, _)) => next,
                    Either::Right(_) => continue,
                }
            };
            let message = next?;
            activity.bump();
            let bytes = match message {
                Ok(Message::Binary(bytes)) => bytes,
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(err) => {
                    record!(
                        debug,
                        TARGET_CHANNEL,
                        "control channel {} failed: {err}",
                        self.id
                    );
                    return crate::ws::close_for(&err);
                }
            };
            match ControlFrame::decode(&bytes) {
                Ok(ControlFrame::Response {
                    identifier,
                    data,
                    error,
                }) => match self.pending_map().remove(&identifier) {
                    Some(waiter) => {
                        let _ = waiter.send((data, error));
                    }
                    // A late answer to a request that timed out, or noise:
                    // nothing to do, and nothing worth a line per frame.
                    None => record!(
                        debug,
                        TARGET_CHANNEL,
                        "response {identifier} matches no request; ignored"
                    ),
                },
                Ok(ControlFrame::Message {
                    identifier,
                    message,
                }) => {
                    let channel = Arc::clone(self);
                    let answer = handler.handle(message);
                    answering.push(crate::instance::inherit(async move {
                        let error = answer.await.err();
                        let frame = ControlFrame::Response {
                            identifier,
                            data: Document::new(),
                            error,
                        };
                        let _ = channel.send(frame).await;
                    }));
                }
                Err(err) => {
                    // The other side does not speak the protocol: say why
                    // and close. Debug only: the client is told, and a
                    // warning per attempt would let anyone fill the log.
                    record!(
                        debug,
                        TARGET_CHANNEL,
                        "control channel {}: {err}; closing it",
                        self.id
                    );
                    return Some(crate::ws::reason(CloseCode::Protocol, &err.to_string()));
                }
            }
        }
    }
}
