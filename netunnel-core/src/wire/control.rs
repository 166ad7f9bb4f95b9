//! Control-channel documents: one BSON document per binary websocket frame.

use bson::{Bson, Document};

use crate::error::{Error, Result};
use crate::instance::{record, TARGET_CHANNEL};

/// The messages a server sends its client over the control channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// Open one more websocket for reverse tunnel `tunnel_id`.
    NewConnection {
        /// The tunnel that needs a websocket.
        tunnel_id: u64,
    },
    /// The server stopped tunnel `tunnel_id`; stop it on the client too.
    DeleteTunnel {
        /// The tunnel to stop.
        tunnel_id: u64,
        /// Close open connections at once rather than waiting for them.
        force: bool,
    },
    /// A message name this implementation does not know.
    Unknown(String),
}

const NEW_CONNECTION: &str = "TUNNEL_SERVER_TO_CLIENT_NEW_CONNECTION";
const DELETE_TUNNEL: &str = "DELETE_TUNNEL";
const MESSAGES_KEY: &str = "__Messages__";

impl ControlMessage {
    fn name(&self) -> &str {
        match self {
            ControlMessage::NewConnection { .. } => NEW_CONNECTION,
            ControlMessage::DeleteTunnel { .. } => DELETE_TUNNEL,
            ControlMessage::Unknown(name) => name,
        }
    }

    fn data(&self) -> Document {
        let mut data = Document::new();
        match self {
            ControlMessage::NewConnection { tunnel_id } => {
                data.insert("tunnel_id", int(*tunnel_id as i64));
            }
            ControlMessage::DeleteTunnel { tunnel_id, force } => {
                data.insert("tunnel_id", int(*tunnel_id as i64));
                data.insert("force", *force);
            }
            ControlMessage::Unknown(_) => {}
        }
        data
    }

    fn parse(name: &str, data: &Document) -> Result<Self> {
        Ok(match name {
            NEW_CONNECTION => ControlMessage::NewConnection {
                tunnel_id: get_id(data, "tunnel_id")?,
            },
            DELETE_TUNNEL => ControlMessage::DeleteTunnel {
                tunnel_id: get_id(data, "tunnel_id")?,
                force: data.get_bool("force").unwrap_or(false),
            },
            other => ControlMessage::Unknown(other.to_string()),
        })
    }
}

/// One control-channel document.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlFrame {
    /// A request that expects a [`ControlFrame::Response`] with the same identifier.
    Message {
        /// Per-sender counter, starting at 1.
        identifier: i64,
        /// What is asked.
        message: ControlMessage,
    },
    /// The answer to the request with the same identifier.
    Response {
        /// Identifier of the request answered.
        identifier: i64,
        /// Response data (empty for every message NETunnel defines).
        data: Document,
        /// Present when the request failed.
        error: Option<String>,
    },
}

/// BSON int32 when the value fits, else int64 (as the Python encoder does).
fn int(value: i64) -> Bson {
    match i32::try_from(value) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(value),
    }
}

fn get_int(doc: &Document, key: &str) -> Result<i64> {
    match doc.get(key) {
        Some(Bson::Int32(v)) => Ok(i64::from(*v)),
        Some(Bson::Int64(v)) => Ok(*v),
        other => Err(Error::Protocol(format!(
            "control document field `{key}` should be an integer, found {other:?}"
        ))),
    }
}

fn get_id(doc: &Document, key: &str) -> Result<u64> {
    let value = get_int(doc, key)?;
    u64::try_from(value)
        .map_err(|_| Error::Protocol(format!("control document field `{key}` is negative")))
}

impl ControlFrame {
    /// Serialises the frame as NETunnel 1.0.x does (key order `_type`, `_identifier`,
    /// `message_type`, `data`, `error`).
    pub fn encode(&self) -> Vec<u8> {
        let mut doc = Document::new();
        match self {
            ControlFrame::Message {
                identifier,
                message,
            } => {
                doc.insert("_type", "message");
                doc.insert("_identifier", int(*identifier));
                let mut kind = Document::new();
                kind.insert(MESSAGES_KEY, message.name());
                doc.insert("message_type", kind);
                doc.insert("data", message.data());
            }
            ControlFrame::Response {
                identifier,
                data,
                error,
            } => {
                doc.insert("_type", "response");
                doc.insert("_identifier", int(*identifier));
                doc.insert("data", data.clone());
                if let Some(error) = error {
                    doc.insert("error", error.as_str());
                }
            }
        }
        let mut out = Vec::with_capacity(160);
        // Writing a well-formed document into a Vec cannot fail.
        if let Err(err) = doc.to_writer(&mut out) {
            record!(
                error,
                TARGET_CHANNEL,
                "failed to encode a control document: {err}"
            );
        }
        out
    }

    /// Parses one binary frame's payload.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let doc = Document::from_reader(bytes)
            .map_err(|err| Error::Protocol(format!("invalid BSON control document: {err}")))?;
        let kind = doc
            .get_str("_type")
            .map_err(|_| Error::Protocol("control document without `_type`".into()))?;
        let identifier = get_int(&doc, "_identifier")?;
        let data = match doc.get("data") {
            Some(Bson::Document(data)) => data.clone(),
            None | Some(Bson::Null) => Document::new(),
            Some(other) => {
                return Err(Error::Protocol(format!(
                    "control document `data` is not a document: {other:?}"
                )))
            }
        };
        match kind {
            "message" => {
                let name = doc
                    .get_document("message_type")
                    .ok()
                    .and_then(|kind| kind.get_str(MESSAGES_KEY).ok())
                    .ok_or_else(|| Error::Protocol("control message without a type".into()))?;
                Ok(ControlFrame::Message {
                    identifier,
                    message: ControlMessage::parse(name, &data)?,
                })
            }
            "response" => {
                let error = match doc.get("error") {
                    None | Some(Bson::Null) => None,
                    Some(Bson::String(text)) => Some(text.clone()),
                    Some(other) => Some(other.to_string()),
                };
                Ok(ControlFrame::Response {
                    identifier,
                    data,
                    error,
                })
            }
            other => Err(Error::Protocol(format!(
                "unknown control document type `{other}`"
            ))),
        }
    }
}
