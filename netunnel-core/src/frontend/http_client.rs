//! [`Transport`] over plain TCP: REST with async-h1, websockets with
//! async-tungstenite, one TCP connection per request.

use std::time::Duration;

use futures::future::BoxFuture;
use http_types::{Method as HttpMethod, Request, Url};

use std::sync::Arc;

use super::tls::{self, TlsOptions};
use crate::auth::{headers_for, AuthContext, ClientAuth, Headers};
use crate::config::ProxySettings;
use crate::error::{Error, Result};
use crate::runtime::{timeout, RuntimeRef};
use crate::transport::{Method, Reply, Transport};
use crate::ws::{self, Upgraded};

/// How an [`HttpTransport`] reaches its server besides the URL.
#[derive(Clone, Default)]
pub struct TransportOptions {
    /// An HTTP proxy to tunnel every connection through (`CONNECT`).
    pub proxy: Option<ProxySettings>,
    /// Certificate checks for `https://` servers.
    pub tls: TlsOptions,
    /// The client authentication plugin (none: no authentication headers).
    pub auth: Option<Arc<dyn ClientAuth>>,
}

impl std::fmt::Debug for TransportOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportOptions")
            .field("proxy", &self.proxy)
            .field("tls", &self.tls)
            .field("auth", &self.auth.is_some())
            .finish()
    }
}

/// Reaches a NETunnel server at an `http(s)://host:port[/prefix]` URL.
pub struct HttpTransport {
    rt: RuntimeRef,
    proxy: Option<ProxySettings>,
    tls: Option<Arc<futures_rustls::rustls::ClientConfig>>,
    auth: Option<Arc<dyn ClientAuth>>,
    auth_lock: futures::lock::Mutex<()>,
    host: String,
    port: u16,
    /// Path prefix without a trailing slash (empty for none).
    prefix: String,
    /// Bound on each exchange and handshake.
    request_timeout: Duration,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl HttpTransport {
    /// Default bound on one REST exchange or websocket handshake: 30 s.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// A transport to `server_url` (`http://` or `https://`, verified against
    /// the system roots), without a proxy.
    pub fn new(rt: RuntimeRef, server_url: &str) -> Result<HttpTransport> {
        Self::with_options(rt, server_url, TransportOptions::default())
    }

    /// A transport to `server_url` with a proxy and TLS options.
    pub fn with_options(
        rt: RuntimeRef,
        server_url: &str,
        options: TransportOptions,
    ) -> Result<HttpTransport> {
        let shown = crate::proxy::redact_url(server_url);
        let url = Url::parse(server_url)
            .map_err(|err| Error::Config(format!("invalid server URL `{shown}`: {err}")))?;
        let tls = match url.scheme() {
            "http" => None,
            "https" => Some(tls::client_config(&options.tls)?),
            other => {
                return Err(Error::Config(format!(
                    "unsupported server URL scheme `{other}` (use http:// or https://)"
                )))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| Error::Config(format!("server URL `{shown}` has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let prefix = url.path().trim_end_matches('/').to_string();
        Ok(HttpTransport {
            rt,
            proxy: options.proxy,
            tls,
            auth: options.auth,
            auth_lock: futures::lock::Mutex::new(()),
            host,
            port,
            prefix,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// The same transport with another bound on each REST exchange and
    /// websocket handshake, connecting and any proxy included (default
    /// [`Self::DEFAULT_REQUEST_TIMEOUT`]). A server that accepts the connection and
    /// never answers fails with [`crate::ErrorKind::Timeout`] after it.
    pub fn with_request_timeout(mut self, timeout: Duration) -> HttpTransport {
        self.request_timeout = timeout;
        self
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    async fn connect(&self) -> Result<crate::BoxConn> {
        let conn = match &self.proxy {
            Some(proxy) => {
                crate::proxy::connect_via(&*self.rt, proxy, &self.host, self.port).await?
            }
            None => self
                .rt
                .connect(self.host.clone(), self.port)
                .await
                .map_err(|err| {
                    // The server cannot be reached: a connection failure, not
                    // a local I/O one.
                    Error::Connection(format!(
                        "cannot connect to the server {}: {err}",
                        self.describe()
                    ))
                })?,
        };
        match &self.tls {
            Some(config) => tls::connect(Arc::clone(config), &self.host, conn).await,
            None => Ok(conn),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
        headers: Headers,
    ) -> Result<Reply> {
        let url = format!("http://{}{}{}", self.authority(), self.prefix, path);
        let url = Url::parse(&url).map_err(|err| Error::Config(format!("bad URL {url}: {err}")))?;
        let method = match method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Delete => HttpMethod::Delete,
        };
        let mut request = Request::new(method, url);
        for (name, value) in &headers {
            request.insert_header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            request.set_body(body.to_string());
            request.insert_header("Content-Type", "application/json");
        }
        let conn = self.connect().await?;
        let mut response = async_h1::connect(conn, request).await.map_err(|err| {
            Error::Connection(format!("HTTP request to {} failed: {err}", self.describe()))
        })?;
        let body = response.body_bytes().await.map_err(|err| {
            Error::Connection(format!(
                "reading the answer of {} failed: {err}",
                self.describe()
            ))
        })?;
        Ok(Reply {
            status: u16::from(response.status()),
            body,
        })
    }

    async fn open_websocket(&self, path: String, headers: Headers) -> Result<Upgraded> {
        let target = format!("{}{}", self.prefix, path);
        let conn = self.connect().await?;
        super::ws_client::upgrade(ws::over(conn), &self.authority(), &target, &path, &headers).await
    }
}

impl HttpTransport {
    /// Headers from the client plugin, authenticating first when needed.
    async fn auth_headers(&self) -> Result<Headers> {
        let Some(auth) = &self.auth else {
            return Ok(Vec::new());
        };
        // One authentication at a time, even with many requests in flight.
        let _guard = self.auth_lock.lock().await;
        headers_for(&**auth, || {
            AuthContext::new(self.describe(), Arc::new(self.unauthenticated()))
        })
        .await
    }

    async fn bounded<T>(
        &self,
        what: String,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        timeout(&*self.rt, self.request_timeout, work)
            .await
            .unwrap_or(Err(Error::Timeout(what)))
    }
}

impl HttpTransport {
    /// One bounded REST exchange with `headers`.
    fn send(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
        headers: Headers,
    ) -> impl std::future::Future<Output = Result<Reply>> + Send + '_ {
        let what = format!("waiting for {} {path}", method.as_str());
        self.bounded(what, self.exchange(method, path, body, headers))
    }

    /// One bounded websocket handshake with `headers`.
    fn upgrade(
        &self,
        path: String,
        headers: Headers,
    ) -> impl std::future::Future<Output = Result<Upgraded>> + Send + '_ {
        let what = format!("opening websocket {path}");
        self.bounded(what, self.open_websocket(path, headers))
    }
}

impl HttpTransport {
    /// The same way to the server, without authentication headers: what a
    /// client plugin uses to call `/authenticate`.
    fn unauthenticated(&self) -> HttpTransport {
        HttpTransport {
            rt: Arc::clone(&self.rt),
            proxy: self.proxy.clone(),
            tls: self.tls.clone(),
            auth: None,
            auth_lock: futures::lock::Mutex::new(()),
            host: self.host.clone(),
            port: self.port,
            prefix: self.prefix.clone(),
            request_timeout: self.request_timeout,
        }
    }
}

impl Transport for HttpTransport {
    fn request(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
    ) -> BoxFuture<'_, Result<Reply>> {
        Box::pin(async move {
            let headers = self.auth_headers().await?;
            self.send(method, path, body, headers).await
        })
    }

    fn websocket(&self, path: String) -> BoxFuture<'_, Result<Upgraded>> {
        Box::pin(async move {
            let headers = self.auth_headers().await?;
            self.upgrade(path, headers).await
        })
    }

    fn describe(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority(), self.prefix)
    }
}
