//! HTTP proxies: `CONNECT` tunnels and the proxy check of `POST /config/http-proxy`.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::error::{Error, Result};
use crate::runtime::{timeout, BoxConn, Runtime};

const PROXY_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_HEAD: usize = 16 * 1024;

/// What stands for a secret in logs and answers, and in a 1.0.x file where a
/// credential was lost (see PROTOCOL.md).
pub const MASK: &str = "******";

/// A decrypted proxy setting.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// `http://host:port`.
    pub url: String,
    /// Basic auth user, if any.
    pub username: Option<String>,
    /// Basic auth password, if any.
    pub password: Option<String>,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username.as_ref().map(|_| MASK))
            .field("password", &self.password.as_ref().map(|_| MASK))
            .finish()
    }
}

/// `url` with any password replaced by `******`, for logs and answers. When
/// the parser finds no password (a URL that does not parse, or parses oddly),
/// whatever stands between `://` and the last `@` before the path is masked,
/// user included.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some(MASK));
            parsed.to_string()
        }
        // No password the parser saw (or no URL at all: `user:pass@host:99999`
        // even parses, as scheme `user`): mask any `...@` part by hand.
        _ => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => {
                    let separator = if scheme.is_empty() { "" } else { "://" };
                    format!("{scheme}{separator}{MASK}{}", &rest[at..])
                }
                None => url.to_string(),
            }
        }
    }
}

/// Host and port of an `http://` proxy URL, and credentials from its
/// `user:pass@` part (explicit credentials win).
/// Basic auth user and password.
type Credentials = Option<(String, String)>;

fn endpoint(proxy: &ProxySettings) -> Result<(String, u16, Credentials)> {
    let url = Url::parse(&proxy.url).map_err(|err| {
        Error::BadRequest(format!(
            "invalid proxy URL {}: {err}",
            redact_url(&proxy.url)
        ))
    })?;
    if url.scheme() != "http" {
        return Err(Error::BadRequest(format!(
            "unsupported proxy URL scheme `{}` (use http://)",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::BadRequest("the proxy URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let credentials = match (&proxy.username, &proxy.password) {
        (Some(user), Some(pass)) => Some((user.clone(), pass.clone())),
        (None, None) if !url.username().is_empty() => Some((
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        )),
        (None, None) => None,
        _ => {
            return Err(Error::BadRequest(
                "HTTP proxy authentication needs both a username and a password".into(),
            ))
        }
    };
    Ok((host, port, credentials))
}

fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn authorization(credentials: &Credentials) -> String {
    match credentials {
        Some((user, pass)) => format!(
            "Proxy-Authorization: Basic {}\r\n",
            STANDARD.encode(format!("{user}:{pass}"))
        ),
        None => String::new(),
    }
}

/// Reads a response head; returns the status code and reason.
async fn read_status(conn: &mut BoxConn) -> Result<(u16, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(Error::Protocol("the proxy's answer is too long".into()));
        }
        let n = conn
            .read(&mut byte)
            .await
            .map_err(|err| Error::io("reading the proxy's answer", err))?;
        if n == 0 {
            return Err(Error::Connection("the proxy closed the connection".into()));
        }
        head.push(byte[0]);
    }
    let head = crate::http_head::ResponseHead::parse(&head, "the proxy")?;
    Ok((head.status, head.reason))
}

/// Connects to the proxy itself.
async fn open(rt: &dyn Runtime, proxy: &ProxySettings) -> Result<(BoxConn, Credentials)> {
    let (proxy_host, proxy_port, credentials) = endpoint(proxy)?;
    let conn = rt.connect(proxy_host, proxy_port).await.map_err(|err| {
        Error::io(
            format!("cannot connect to the proxy {}", redact_url(&proxy.url)),
            err,
        )
    })?;
    Ok((conn, credentials))
}

/// Sends `request` on `conn` and reads the status of the proxy's answer.
async fn ask(conn: &mut BoxConn, request: &str) -> Result<(u16, String)> {
    conn.write_all(request.as_bytes())
        .await
        .map_err(|err| Error::io("writing to the proxy", err))?;
    read_status(conn).await
}

/// Bounds a conversation with the proxy in time.
async fn bounded<T>(
    rt: &dyn Runtime,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    timeout(rt, PROXY_TIMEOUT, work)
        .await
        .unwrap_or_else(|| Err(Error::Timeout("waiting for the proxy".into())))
}

/// Opens a TCP tunnel to `host:port` through `proxy` with `CONNECT`.
pub async fn connect_via(
    rt: &dyn Runtime,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> Result<BoxConn> {
    bounded(rt, async {
        let (mut conn, credentials) = open(rt, proxy).await?;
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let request = format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{}\r\n",
            authorization(&credentials)
        );
        let (status, reason) = ask(&mut conn, &request).await?;
        if !(200..300).contains(&status) {
            return Err(Error::Connection(format!(
                "the proxy {} refused CONNECT {target}: {status} {reason}",
                redact_url(&proxy.url)
            )));
        }
        Ok(conn)
    })
    .await
}

/// Checks that `proxy` works: an `http://` `test_url` is fetched through it and
/// must answer 200; for an `https://` one the proxy must accept a `CONNECT` to it.
pub async fn check(rt: &dyn Runtime, proxy: &ProxySettings, test_url: &str) -> Result<()> {
    let url = Url::parse(test_url)
        .map_err(|err| Error::BadRequest(format!("invalid test_url {test_url}: {err}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::BadRequest("test_url has no host".into()))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    match url.scheme() {
        // A proxy that cannot be reached or refuses is a bad setting (400), as
        // for http:// test URLs below.
        "https" => match connect_via(rt, proxy, &host, port).await {
            Ok(_) => Ok(()),
            Err(err @ (Error::Io { .. } | Error::Connection(_))) => {
                Err(Error::BadRequest(err.to_string()))
            }
            Err(other) => Err(other),
        },
        "http" => {
            bounded(rt, async {
                let (mut conn, credentials) = open(rt, proxy)
                    .await
                    .map_err(|err| Error::BadRequest(err.to_string()))?;
                let request = format!(
                    "GET {url} HTTP/1.1\r\nHost: {host}\r\n{}Connection: close\r\n\r\n",
                    authorization(&credentials)
                );
                let (status, reason) = ask(&mut conn, &request).await?;
                if status != 200 {
                    return Err(Error::BadRequest(format!(
                        "Invalid response from proxy: {status} {reason}"
                    )));
                }
                Ok(())
            })
            .await
        }
        other => Err(Error::BadRequest(format!(
            "unsupported test_url scheme `{other}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_that_does_not_parse_are_masked_too() {
        assert_eq!(
            redact_url("http://bob:hunter2@proxy:badport/x"),
            "http://******@proxy:badport/x"
        );
        assert_eq!(redact_url("bob:hunter2@proxy:99999"), "******@proxy:99999");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(
            redact_url("http://bob:hunter2@proxy:3128"),
            "http://bob:******@proxy:3128/"
        );
    }
}
