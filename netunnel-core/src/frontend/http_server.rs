//! The HTTP server: tide routes over our own accept loop, websocket upgrades done
//! by hand with async-tungstenite.

use std::net::SocketAddr;
use std::sync::Arc;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use futures::future::{select, Either};
use futures::{AsyncReadExt, Future};
use http_types::StatusCode;
use tide::{Request, Response};

use crate::error::{Error, Result};
use crate::instance::{record, TARGET_SERVER};
use crate::runtime::{BoxConn, Listener, RuntimeRef};
use crate::server::ServerCore;
use crate::sync::{StopSignal, TaskTracker};
use crate::wire::{CreateTunnel, ErrorBody, HttpProxyView};
use crate::ws::{self, Upgraded};

/// Largest request body we read.
const MAX_BODY: u64 = 1 << 20;

/// The router's state: the server.
pub(super) type State = Arc<ServerCore>;

/// A running HTTP server. Dropping the handle does not stop it; call
/// [`ServerHandle::shutdown`].
#[derive(Debug, Clone)]
pub struct ServerHandle {
    core: Arc<ServerCore>,
    local_addr: SocketAddr,
    stop: Arc<StopSignal>,
    /// The accept loop, which owns the listener.
    listening: Arc<TaskTracker>,
}

impl ServerHandle {
    /// Binds `host:port` (port 0 picks a free one) and serves `core` on it
    /// over plain HTTP.
    pub async fn start(core: Arc<ServerCore>, host: &str, port: u16) -> Result<ServerHandle> {
        Self::start_with_tls(core, host, port, None).await
    }

    /// Like [`ServerHandle::start`], serving HTTPS when `tls` is given.
    pub(crate) async fn start_with_tls(
        core: Arc<ServerCore>,
        host: &str,
        port: u16,
        tls: Option<Arc<futures_rustls::rustls::ServerConfig>>,
    ) -> Result<ServerHandle> {
        let rt = Arc::clone(core.runtime());
        let listener = rt
            .listen(host.to_string(), port)
            .await
            .map_err(|err| Error::io(format!("cannot listen on {host}:{port}"), err))?;
        let local_addr = listener
            .local_addr()
            .map_err(|err| Error::io("reading the bound address", err))?;
        let app = Arc::new(routes(Arc::clone(&core)));
        let stop = Arc::new(StopSignal::new());
        // The loop holds the signal too: dropping every handle leaves it running.
        let signal = Arc::clone(&stop);
        let stopped = stop.wait();
        let tls = tls.map(futures_rustls::TlsAcceptor::from);
        let listening = Arc::new(TaskTracker::new());
        let token = listening.token();
        let looping = Arc::clone(&rt);
        rt.spawn(crate::instance::inherit(async move {
            accept_loop(looping, listener, app, tls, stopped).await;
            drop((token, signal));
        }));
        Ok(ServerHandle {
            core,
            local_addr,
            stop,
            listening,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's state.
    pub fn core(&self) -> &Arc<ServerCore> {
        &self.core
    }

    /// Stops accepting and closes every channel.
    pub fn shutdown(&self) {
        self.stop.fire();
        self.core.close_all();
    }

    /// [`ServerHandle::shutdown`], stops every static tunnel, closes the
    /// configuration (a change still being made is refused, a write under
    /// way lands first: after this the file is not written again), and
    /// returns once the listener is closed. The closed `ConfigStore` takes
    /// no change again: a server started anew needs a store opened anew
    /// (as [`crate::Server::start`] does).
    pub async fn stop(&self) {
        self.shutdown();
        self.core.peers().close().await;
        self.core
            .config()
            .close_unblocked(&**self.core.runtime())
            .await;
        self.listening.wait().await;
    }
}

/// How long a client may take to complete its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a request came over TLS, as a request extension (async-h1 builds
/// every request URL as `http://`).
#[derive(Debug, Clone, Copy)]
pub(super) struct OverTls(pub(super) bool);

/// Serves HTTP/1.1 (and websocket upgrades) on one connection from `peer`.
async fn serve_http<RW>(stream: RW, app: Arc<tide::Server<State>>, peer: SocketAddr, tls: bool)
where
    RW: futures::AsyncRead + futures::AsyncWrite + Clone + Send + Sync + Unpin + 'static,
{
    let served = async_h1::accept(stream, |mut request| {
        let app = Arc::clone(&app);
        request.set_peer_addr(Some(peer));
        request.ext_mut().insert(OverTls(tls));
        async move { app.respond(request).await }
    })
    .await;
    if let Err(err) = served {
        record!(
            debug,
            TARGET_SERVER,
            "HTTP connection ended with an error: {err}"
        );
    }
}

/// The next connection `listener` accepts; `None` once `stopped` completes.
/// A failed accept (no file descriptor left, say) is logged, naming the
/// connection as `what`, and tried again 50 ms later.
pub(super) async fn next_connection(
    rt: &dyn crate::runtime::Runtime,
    listener: &dyn Listener,
    stopped: &mut (impl Future<Output = ()> + Unpin),
    what: &str,
) -> Option<(BoxConn, SocketAddr)> {
    loop {
        match select(std::pin::pin!(listener.accept()), &mut *stopped).await {
            Either::Right(_) => return None,
            Either::Left((Ok(pair), _)) => return Some(pair),
            Either::Left((Err(err), _)) => {
                record!(warn, TARGET_SERVER, "cannot accept {what}: {err}");
                rt.sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn accept_loop(
    rt: RuntimeRef,
    listener: Box<dyn Listener>,
    app: Arc<tide::Server<State>>,
    tls: Option<futures_rustls::TlsAcceptor>,
    stopped: impl Future<Output = ()> + Unpin,
) {
    let mut stopped = stopped;
    while let Some((stream, peer)) =
        next_connection(&*rt, &*listener, &mut stopped, "an HTTP connection").await
    {
        let app = Arc::clone(&app);
        let tls = tls.clone();
        let conn_rt = Arc::clone(&rt);
        rt.spawn(crate::instance::inherit(async move {
            let rt = conn_rt;
            let wait = app.state().settings().request_timeout;
            let Some(acceptor) = tls else {
                if let Some(stream) = super::request_head::first(&*rt, stream, wait).await {
                    serve_http(shared(stream), app, peer, false).await;
                }
                return;
            };
            let handshake = acceptor.accept(stream);
            match crate::runtime::timeout(&*rt, TLS_HANDSHAKE_TIMEOUT, handshake).await {
                Some(Ok(tls_stream)) => {
                    let stream: BoxConn = Box::new(tls_stream);
                    if let Some(stream) = super::request_head::first(&*rt, stream, wait).await {
                        serve_http(shared(stream), app, peer, true).await;
                    }
                }
                Some(Err(err)) => record!(debug, TARGET_SERVER, "TLS handshake failed: {err}"),
                None => record!(debug, TARGET_SERVER, "TLS handshake timed out"),
            }
        }));
    }
}

/// async-h1 reads and writes one connection through clones of its stream, and
/// a runtime's connection is not clonable: the clones share it behind a lock,
/// taken for each read or write call only (never held while one waits).
pub(super) fn shared(conn: BoxConn) -> async_dup::Arc<async_dup::Mutex<BoxConn>> {
    async_dup::Arc::new(async_dup::Mutex::new(conn))
}

fn routes(core: Arc<ServerCore>) -> tide::Server<State> {
    let mut app = tide::with_state(core);
    app.with(super::auth_routes::RequireAuth);
    app.at("/authenticate")
        .post(super::auth_routes::authenticate);
    app.at("/version").get(|_req: Request<State>| async move {
        let mut res = Response::new(StatusCode::Ok);
        res.set_body(crate::VERSION);
        res.set_content_type(http_types::mime::PLAIN);
        Ok(res)
    });
    app.at("/metrics").get(metrics);
    app.at("/channels").post(create_channel);
    app.at("/channels/:cid/connect").get(connect_channel);
    app.at("/channels/:cid/tunnels").post(create_tunnel);
    app.at("/channels/:cid/tunnels/:tid").delete(delete_tunnel);
    app.at("/channels/:cid/tunnels/:tid/connect")
        .get(connect_tunnel);
    app.at("/config/http-proxy")
        .get(|req: Request<State>| async move {
            Ok(json_response(HttpProxyView::to_json(
                req.state().http_proxy_view().as_ref(),
            )))
        })
        .post(set_http_proxy);
    app.at("/config/factory-reset").post(factory_reset);
    super::peer_routes::add(&mut app);
    app.at("*").all(|req: Request<State>| async move {
        Ok(error_response(&Error::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.url().path()
        ))))
    });
    app
}

/// `{"error": ...}` with the error's status.
pub(super) fn error_response(err: &Error) -> Response {
    let status = StatusCode::try_from(err.http_status()).unwrap_or(StatusCode::InternalServerError);
    let mut res = Response::new(status);
    let body = ErrorBody {
        error: err.to_string(),
        kind: Some(err.kind().name().to_string()),
    };
    if let Ok(body) = tide::Body::from_json(&body) {
        res.set_body(body);
    }
    res
}

pub(super) fn json_response(value: serde_json::Value) -> Response {
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(value);
    res
}

/// `value` as a JSON answer.
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<Response> {
    serde_json::to_value(value)
        .map(json_response)
        .map_err(|err| Error::Protocol(err.to_string()))
}

/// An empty success: empty body, JSON content type (a Python client reads `None`).
pub(super) fn empty_response() -> Response {
    let mut res = Response::new(StatusCode::Ok);
    res.set_content_type(http_types::mime::JSON);
    res
}

pub(super) fn reply(result: Result<Response>) -> tide::Result {
    Ok(result.unwrap_or_else(|err| error_response(&err)))
}

pub(super) fn id_param(req: &Request<State>, name: &str) -> Result<u64> {
    let text = req
        .param(name)
        .map_err(|_| Error::BadRequest(format!("missing `{name}`")))?;
    text.parse()
        .map_err(|_| Error::NotFound(format!("`{text}` is not a valid {name}")))
}

/// Reads a request body of at most `max` bytes (413 past it), within the
/// server's request timeout (400 past it).
pub(super) async fn read_body(req: &mut Request<State>, max: u64) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge(format!("request body over {max} bytes"));
    if req.len().is_some_and(|len| len as u64 > max) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let wait = req.state().settings().request_timeout;
    let rt = Arc::clone(req.state().runtime());
    let mut reader = req.take_body().take(max + 1);
    crate::runtime::timeout(&*rt, wait, reader.read_to_end(&mut body))
        .await
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "the request body did not arrive within {} s",
                wait.as_secs_f64()
            ))
        })?
        .map_err(|err| Error::BadRequest(format!("cannot read the request body: {err}")))?;
    if body.len() as u64 > max {
        return Err(too_large());
    }
    Ok(body)
}

/// Reads a JSON request body (at most [`MAX_BODY`]); an empty one is `{}`.
pub(super) async fn read_json(req: &mut Request<State>) -> Result<serde_json::Value> {
    let body = read_body(req, MAX_BODY).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(&body)
        .map_err(|err| Error::BadRequest(format!("the body is not valid JSON: {err}")))
}

/// `GET /metrics`: the Prometheus text, when the server was started with
/// metrics on; otherwise 404, with a message that says how to turn them on.
async fn metrics(req: Request<State>) -> tide::Result {
    let core = req.state();
    if !core.settings().metrics {
        return Ok(error_response(&Error::NotFound(
            "metrics are off: start the server with them on (`--metrics`)".into(),
        )));
    }
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(core.metrics().to_prometheus());
    res.insert_header("Content-Type", crate::metrics::CONTENT_TYPE);
    Ok(res)
}

async fn create_channel(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let body = read_json(&mut req).await?;
            let version = match body.get("version") {
                Some(serde_json::Value::String(version)) => version.clone(),
                _ => return Err(Error::BadRequest("missing `version`".into())),
            };
            let created = req.state().create_channel(version)?;
            to_json(&created)
        }
        .await,
    )
}

async fn create_tunnel(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let cid = id_param(&req, "cid")?;
            req.state().check_channel(cid)?;
            let body = read_json(&mut req).await?;
            let request = CreateTunnel::from_json(&body)?;
            let created = req.state().create_tunnel(cid, request).await?;
            to_json(&created)
        }
        .await,
    )
}

async fn delete_tunnel(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let cid = id_param(&req, "cid")?;
            let tid = id_param(&req, "tid")?;
            let body = read_json(&mut req).await?;
            let force = body
                .get("force")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            req.state().delete_tunnel(cid, tid, force).await?;
            Ok(empty_response())
        }
        .await,
    )
}

async fn set_http_proxy(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let body = read_json(&mut req).await?;
            let request = crate::wire::HttpProxyRequest::from_json(&body)?;
            let shown = req.state().set_http_proxy(request).await?;
            Ok(json_response(HttpProxyView::to_json(shown.as_ref())))
        }
        .await,
    )
}

async fn factory_reset(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let body = read_json(&mut req).await?;
            let disconnect = body
                .get("disconnect_clients")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            req.state().factory_reset(disconnect).await?;
            Ok(empty_response())
        }
        .await,
    )
}

async fn connect_channel(req: Request<State>) -> tide::Result {
    reply(
        async {
            let cid = id_param(&req, "cid")?;
            let core = Arc::clone(req.state());
            core.check_channel_connect(cid)?;
            upgrade(
                &req,
                move |ws| async move { core.serve_channel(cid, ws).await },
            )
            .await
        }
        .await,
    )
}

async fn connect_tunnel(req: Request<State>) -> tide::Result {
    reply(
        async {
            let cid = id_param(&req, "cid")?;
            let tid = id_param(&req, "tid")?;
            let core = Arc::clone(req.state());
            core.check_tunnel_connect(cid, tid).await?;
            upgrade(&req, move |ws| async move {
                core.tunnel_websocket(cid, tid, ws).await
            })
            .await
        }
        .await,
    )
}

/// Answers a websocket handshake with 101 and runs `serve` on the upgraded
/// connection in the background.
async fn upgrade<F, Fut>(req: &Request<State>, serve: F) -> Result<Response>
where
    F: FnOnce(Upgraded) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let header = |name: &str| {
        req.header(name)
            .map(|values| values.last().as_str().to_string())
    };
    let is_websocket = header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = header("Sec-WebSocket-Key");
    let (true, Some(key)) = (is_websocket, key) else {
        return Err(Error::BadRequest(
            "this route expects a websocket upgrade".into(),
        ));
    };
    let mut res = http_types::Response::new(StatusCode::SwitchingProtocols);
    res.insert_header("Upgrade", "websocket");
    res.insert_header("Connection", "Upgrade");
    res.insert_header("Sec-WebSocket-Accept", derive_accept_key(key.as_bytes()));
    let upgraded = res.recv_upgrade().await;
    req.state()
        .runtime()
        .spawn(crate::instance::inherit(async move {
            if let Some(conn) = upgraded.await {
                serve(Upgraded::new(ws::over(Box::new(conn)), Vec::new())).await;
            }
        }));
    Ok(res.into())
}
