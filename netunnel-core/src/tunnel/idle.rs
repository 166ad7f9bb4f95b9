//! What a tunnel websocket does with a frame while it carries no connection.
//!
//! Two states are idle: the entrance's *idle spare* (opened ahead of need,
//! waiting for a TCP connection to carry) and the exit's *waiting for `pasten`*
//! (a fresh websocket, or one handed back after its connection ended). Only the
//! entrance's `pasten` text frame may start a connection; control frames are
//! signs of life and nothing more. ARCHITECTURE.md has the whole table, the
//! pumping and ending states included.
//!
//! Before this was a function of its own, the exit took *any* first frame as
//! the start: a ping from our client's heartbeat (or the pong answering our own
//! ping) made the exit connect to its destination with no application behind
//! it, and a service that speaks first lost its greeting to an idle spare.

use async_tungstenite::tungstenite::Message;

use crate::wire::START_MESSAGE;

/// Which end of the tunnel holds the idle websocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The listening end: holds idle spares and sends `pasten`.
    Entrance,
    /// The connecting end: waits for `pasten`, then connects.
    Exit,
}

/// What to do with one frame received on an idle websocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing happened for the tunnel: keep waiting. (tungstenite queues the
    /// pong that answers a ping and sends it with our next read or write.)
    Wait,
    /// The entrance announced a connection: connect to the destination.
    Start,
    /// The other side closed the websocket: it is gone.
    Closed,
    /// The frame has no place here, so the two ends no longer agree on what the
    /// websocket carries: close it rather than guess.
    OutOfStep,
}

/// The verdict on `frame`, received by `end` while its websocket is idle.
pub(crate) fn on_frame(end: End, frame: &Message) -> Verdict {
    match (end, frame) {
        (_, Message::Ping(_) | Message::Pong(_)) => Verdict::Wait,
        (_, Message::Close(_)) => Verdict::Closed,
        (End::Exit, Message::Text(text)) if text.as_str() == START_MESSAGE => Verdict::Start,
        // Data before `pasten` (at the exit) or for no connection at all (at
        // the entrance), another text frame, or a raw frame: out of step.
        (_, Message::Text(_) | Message::Binary(_) | Message::Frame(_)) => Verdict::OutOfStep,
    }
}

/// A short name of the frame's kind, for logs (never its payload).
pub(crate) fn kind(frame: &Message) -> &'static str {
    match frame {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "raw",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_tungstenite::tungstenite::protocol::frame::{coding::CloseCode, CloseFrame};

    fn every_frame() -> Vec<(Message, Verdict, Verdict)> {
        // (frame, verdict at an idle entrance, verdict at a waiting exit)
        vec![
            (
                Message::Ping(Default::default()),
                Verdict::Wait,
                Verdict::Wait,
            ),
            (
                Message::Ping(b"payload".to_vec().into()),
                Verdict::Wait,
                Verdict::Wait,
            ),
            (
                Message::Pong(Default::default()),
                Verdict::Wait,
                Verdict::Wait,
            ),
            (
                Message::Text(START_MESSAGE.into()),
                Verdict::OutOfStep,
                Verdict::Start,
            ),
            (
                Message::Text(crate::wire::END_MESSAGE.into()),
                Verdict::OutOfStep,
                Verdict::OutOfStep,
            ),
            (
                Message::Text("PASTEN".into()),
                Verdict::OutOfStep,
                Verdict::OutOfStep,
            ),
            (
                Message::Binary(b"SSH-2.0-OpenSSH\r\n".to_vec().into()),
                Verdict::OutOfStep,
                Verdict::OutOfStep,
            ),
            (
                Message::Binary(Default::default()),
                Verdict::OutOfStep,
                Verdict::OutOfStep,
            ),
            (Message::Close(None), Verdict::Closed, Verdict::Closed),
            (
                Message::Close(Some(CloseFrame {
                    code: CloseCode::Away,
                    reason: "bye".into(),
                })),
                Verdict::Closed,
                Verdict::Closed,
            ),
        ]
    }

    #[test]
    fn only_pasten_at_the_exit_starts_a_connection() {
        for (frame, at_entrance, at_exit) in every_frame() {
            assert_eq!(on_frame(End::Entrance, &frame), at_entrance, "{frame:?}");
            assert_eq!(on_frame(End::Exit, &frame), at_exit, "{frame:?}");
        }
    }

    #[test]
    fn control_frames_never_start_a_connection() {
        for frame in [
            Message::Ping(Default::default()),
            Message::Pong(Default::default()),
            Message::Ping(START_MESSAGE.as_bytes().to_vec().into()),
            Message::Pong(START_MESSAGE.as_bytes().to_vec().into()),
        ] {
            for end in [End::Entrance, End::Exit] {
                assert_eq!(on_frame(end, &frame), Verdict::Wait, "{end:?} {frame:?}");
            }
        }
    }

    #[test]
    fn kinds_name_the_frame_not_its_payload() {
        assert_eq!(kind(&Message::Text("secret".into())), "text");
        assert_eq!(kind(&Message::Binary(b"secret".to_vec().into())), "binary");
        assert_eq!(kind(&Message::Ping(Default::default())), "ping");
        assert_eq!(kind(&Message::Pong(Default::default())), "pong");
        assert_eq!(kind(&Message::Close(None)), "close");
    }
}
