//! REST bodies of the channel and tunnel routes.

use serde::{Deserialize, Serialize};

/// `POST /channels` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateChannel {
    /// The client's version.
    pub version: String,
}

/// `POST /channels` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelCreated {
    /// Id of the new channel.
    pub channel_id: u64,
    /// The server's version.
    pub version: String,
}

/// `POST /channels/{cid}/tunnels` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CreateTunnel {
    /// Client-to-server: the server connects to `exit_address:exit_port`.
    Forward {
        /// Destination host on the server's side.
        exit_address: String,
        /// Destination port on the server's side.
        exit_port: u16,
        /// Always `false`.
        reverse: bool,
    },
    /// Server-to-client: the server listens on `entrance_address:entrance_port`.
    Reverse {
        /// Address the server listens on.
        entrance_address: String,
        /// Port the server listens on; `None` lets the server choose.
        entrance_port: Option<u16>,
        /// Always `true`.
        reverse: bool,
    },
}

/// `POST /channels/{cid}/tunnels` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TunnelCreated {
    /// Id of the tunnel within its channel.
    pub tunnel_id: u64,
    /// For reverse tunnels on our server: the port actually listened on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrance_port: Option<u16>,
}

/// `DELETE /channels/{cid}/tunnels/{tid}` request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeleteTunnel {
    /// Close open connections at once.
    #[serde(default)]
    pub force: bool,
}

/// Every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable reason.
    pub error: String,
    /// The failure's [`crate::ErrorKind::name`]: our extension, so that our
    /// clients keep the kind a status cannot carry (NETunnel 1.0.x ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl CreateTunnel {
    /// Validates a `POST .../tunnels` body, naming the field that is wrong.
    pub fn from_json(value: &serde_json::Value) -> crate::Result<CreateTunnel> {
        use crate::Error::BadRequest;
        let object = value
            .as_object()
            .ok_or_else(|| BadRequest("the body must be a JSON object".into()))?;
        let text = |key: &str| -> crate::Result<String> {
            match object.get(key) {
                Some(serde_json::Value::String(text)) => Ok(text.clone()),
                Some(_) => Err(BadRequest(format!("`{key}` must be a string"))),
                None => Err(BadRequest(format!("missing `{key}`"))),
            }
        };
        let port = |key: &str, optional: bool| -> crate::Result<Option<u16>> {
            match object.get(key) {
                Some(serde_json::Value::Null) | None if optional => Ok(None),
                None => Err(BadRequest(format!("missing `{key}`"))),
                Some(value) => value
                    .as_u64()
                    .and_then(|port| u16::try_from(port).ok())
                    .filter(|port| *port > 0 || optional)
                    .map(Some)
                    .ok_or_else(|| {
                        BadRequest(format!("`{key}` must be a port number, not {value}"))
                    }),
            }
        };
        let reverse = match object.get("reverse") {
            Some(serde_json::Value::Bool(reverse)) => *reverse,
            Some(_) => return Err(BadRequest("`reverse` must be true or false".into())),
            None => return Err(BadRequest("missing `reverse`".into())),
        };
        if reverse {
            Ok(CreateTunnel::Reverse {
                entrance_address: text("entrance_address")?,
                entrance_port: port("entrance_port", true)?,
                reverse,
            })
        } else {
            Ok(CreateTunnel::Forward {
                exit_address: text("exit_address")?,
                exit_port: port("exit_port", false)?.unwrap_or_default(),
                reverse,
            })
        }
    }
}
