//! The built-in `secret` plugin: the client proves it knows a shared secret
//! (an HMAC over a fresh timestamp and nonce, never the secret itself) and
//! receives a short-lived token signed by the server (HMAC-SHA256 with an
//! expiry). Comparisons are constant-time.
//!
//! `--auth-data`: `{"secret": "...", "token_ttl": 300}` on the server (TTL in
//! seconds, optional), `{"secret": "..."}` on clients and in peers' `auth_data`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{AuthContext, AuthRequest, AuthResponse, ClientAuth, Headers, ServerAuth};
use crate::error::{Error, Result};
use crate::instance::{record, TARGET_AUTH};
use crate::transport::Method;

const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// How far a proof's timestamp may be from the server's clock.
const PROOF_WINDOW: u64 = 120;
/// Renew a token this long before it expires.
const RENEW_MARGIN: Duration = Duration::from_secs(5);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn mac(secret: &str, label: &str) -> Hmac<Sha256> {
    let mut key = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    key.update(label.as_bytes());
    let derived = key.finalize().into_bytes();
    <Hmac<Sha256> as KeyInit>::new_from_slice(&derived).unwrap_or_else(|_| unreachable!("32 bytes"))
}

fn proof(secret: &str, timestamp: u64, nonce: &str) -> Vec<u8> {
    let mut mac = mac(secret, "netunnel secret auth v1: proof");
    mac.update(format!("{timestamp}|{nonce}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn secret_of(data: &Value) -> Result<String> {
    match data.get("secret") {
        Some(Value::String(secret)) if !secret.is_empty() => Ok(secret.clone()),
        _ => Err(Error::Config(
            "the `secret` plugin needs auth data {\"secret\": \"...\"}".into(),
        )),
    }
}

/// Server side of the `secret` plugin.
pub struct SecretServerAuth {
    secret: String,
    ttl: Duration,
}

impl std::fmt::Debug for SecretServerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretServerAuth")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretServerAuth {
    /// From `{"secret": "...", "token_ttl": seconds}`.
    pub fn from_data(data: &Value) -> Result<SecretServerAuth> {
        let ttl = match data.get("token_ttl") {
            None | Some(Value::Null) => DEFAULT_TTL,
            Some(value) => value
                .as_f64()
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    Error::Config("`token_ttl` must be a positive number of seconds".into())
                })?,
        };
        Ok(SecretServerAuth {
            secret: secret_of(data)?,
            ttl,
        })
    }

    fn issue_token(&self) -> Result<String> {
        let expires = now() + self.ttl.as_secs().max(1);
        let nonce: [u8; 12] =
            crate::secret::random_bytes().map_err(|e| Error::Config(e.to_string()))?;
        let mut payload = expires.to_be_bytes().to_vec();
        payload.extend_from_slice(&nonce);
        let mut mac = mac(&self.secret, "netunnel secret auth v1: token");
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    fn token_valid(&self, token: &str) -> bool {
        let Some((payload, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(payload), Ok(tag)) = (URL_SAFE_NO_PAD.decode(payload), URL_SAFE_NO_PAD.decode(tag))
        else {
            return false;
        };
        let mut mac = mac(&self.secret, "netunnel secret auth v1: token");
        mac.update(&payload);
        if mac.verify_slice(&tag).is_err() || payload.len() < 8 {
            return false;
        }
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&payload[..8]);
        u64::from_be_bytes(expires) > now()
    }

    fn check_proof(&self, body: &[u8]) -> bool {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return false;
        };
        let (Some(timestamp), Some(nonce), Some(given)) = (
            body.get("timestamp").and_then(Value::as_u64),
            body.get("nonce").and_then(Value::as_str),
            body.get("proof").and_then(Value::as_str),
        ) else {
            return false;
        };
        if now().abs_diff(timestamp) > PROOF_WINDOW {
            return false;
        }
        let Ok(given) = URL_SAFE_NO_PAD.decode(given) else {
            return false;
        };
        let mut mac = mac(&self.secret, "netunnel secret auth v1: proof");
        mac.update(format!("{timestamp}|{nonce}").as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

impl ServerAuth for SecretServerAuth {
    fn is_authenticated<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            request
                .header("Authorization")
                .and_then(|value| value.strip_prefix("Bearer "))
                .is_some_and(|token| self.token_valid(token.trim()))
        })
    }

    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, AuthResponse> {
        Box::pin(async move {
            if !self.check_proof(&request.body) {
                record!(
                    warn,
                    TARGET_AUTH,
                    "authentication refused for {}",
                    request.remote_addr.as_deref().unwrap_or("a client")
                );
                return AuthResponse::json(
                    403,
                    &json!({"error": "authentication failed: wrong secret or stale proof"}),
                );
            }
            match self.issue_token() {
                Ok(token) => {
                    record!(
                        debug,
                        TARGET_AUTH,
                        "issued a token to {}",
                        request.remote_addr.as_deref().unwrap_or("a client")
                    );
                    AuthResponse::json(
                        200,
                        &json!({"token": token, "expires_in": self.ttl.as_secs_f64()}),
                    )
                }
                Err(err) => AuthResponse::json(500, &json!({"error": err.to_string()})),
            }
        })
    }

    fn client_for_peer<'a>(
        &'a self,
        auth_data: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ClientAuth>>> {
        Box::pin(async move {
            let data = serde_json::to_value(auth_data).map_err(|e| Error::Config(e.to_string()))?;
            let client = SecretClientAuth::from_data(&data)
                .map_err(|_| Error::BadRequest("auth_data must hold the peer's `secret`".into()))?;
            Ok(Arc::new(client) as Arc<dyn ClientAuth>)
        })
    }
}

/// Client side of the `secret` plugin.
pub struct SecretClientAuth {
    secret: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for SecretClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretClientAuth(******)")
    }
}

impl SecretClientAuth {
    /// From `{"secret": "..."}`.
    pub fn from_data(data: &Value) -> Result<SecretClientAuth> {
        Ok(SecretClientAuth {
            secret: secret_of(data)?,
            token: Mutex::new(None),
        })
    }

    fn current(&self) -> Option<(String, Instant)> {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ClientAuth for SecretClientAuth {
    fn authenticate(&self, context: AuthContext) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let timestamp = now();
            let nonce: [u8; 16] =
                crate::secret::random_bytes().map_err(|e| Error::Config(e.to_string()))?;
            let nonce = URL_SAFE_NO_PAD.encode(nonce);
            let body = json!({
                "timestamp": timestamp,
                "nonce": nonce,
                "proof": URL_SAFE_NO_PAD.encode(proof(&self.secret, timestamp, &nonce)),
            });
            let reply = context
                .request(Method::Post, "/authenticate", Some(body))
                .await?;
            let answer = reply.json().map_err(|err| match err {
                Error::Remote { message, .. } if !message.contains("authentication failed") => {
                    Error::Unauthorized(format!("authentication failed: {message}"))
                }
                Error::Remote { message, .. } => Error::Unauthorized(message),
                other => other,
            })?;
            let token = answer.get("token").and_then(Value::as_str).ok_or_else(|| {
                Error::Protocol("the server's /authenticate answer has no token".into())
            })?;
            let ttl = answer
                .get("expires_in")
                .and_then(Value::as_f64)
                .unwrap_or(60.0);
            let lifetime = Duration::from_secs_f64(ttl.max(0.0)).saturating_sub(RENEW_MARGIN);
            *self.token.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((token.to_string(), Instant::now() + lifetime));
            Ok(())
        })
    }

    fn is_authenticated(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.current()
                .is_some_and(|(_, until)| Instant::now() < until)
        })
    }

    fn authorized_headers(&self) -> BoxFuture<'_, Result<Headers>> {
        Box::pin(async move {
            let (token, _) = self
                .current()
                .ok_or_else(|| Error::Unauthorized("not authenticated".into()))?;
            Ok(vec![("Authorization".into(), format!("Bearer {token}"))])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_expire_and_resist_tampering() {
        let server = SecretServerAuth::from_data(&json!({"secret": "s", "token_ttl": 60})).unwrap();
        let token = server.issue_token().unwrap();
        assert!(server.token_valid(&token));
        let other = SecretServerAuth::from_data(&json!({"secret": "t"})).unwrap();
        assert!(!other.token_valid(&token));
        let mut altered = token.clone().into_bytes();
        altered[2] ^= 1;
        assert!(!server.token_valid(&String::from_utf8_lossy(&altered)));
        let expired =
            SecretServerAuth::from_data(&json!({"secret": "s", "token_ttl": 0.001})).unwrap();
        let short = expired.issue_token().unwrap();
        // A TTL under a second rounds up to one second.
        std::thread::sleep(Duration::from_millis(2100));
        assert!(!expired.token_valid(&short));
    }

    #[test]
    fn proofs_need_the_secret_and_a_fresh_timestamp() {
        let server = SecretServerAuth::from_data(&json!({"secret": "s"})).unwrap();
        let good = |secret: &str, timestamp: u64| {
            json!({"timestamp": timestamp, "nonce": "n", "proof": URL_SAFE_NO_PAD.encode(proof(secret, timestamp, "n"))})
                .to_string()
                .into_bytes()
        };
        assert!(server.check_proof(&good("s", now())));
        assert!(!server.check_proof(&good("wrong", now())));
        assert!(!server.check_proof(&good("s", now() - 3600)));
        assert!(!server.check_proof(b"{}"));
        assert!(SecretServerAuth::from_data(&json!({})).is_err());
    }
}
