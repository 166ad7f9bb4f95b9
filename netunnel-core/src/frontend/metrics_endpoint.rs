//! A local HTTP port that answers `GET /metrics` with the Prometheus text of
//! a client's (or any) [`Metrics`]: what `netunnel client --metrics-port`
//! listens on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::select;
use http_types::{Response, StatusCode};

use crate::error::{Error, Result};
use crate::instance::{record, TARGET_CLIENT};
use crate::metrics::{Metrics, CONTENT_TYPE};
use crate::runtime::RuntimeRef;
use crate::sync::{StopSignal, TaskTracker};

/// Connections served at once; past it a new one is closed at once.
const MAX_CONNECTIONS: usize = 64;
/// How long a scraper may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection is served, keep-alive included: no scraper holds
/// a slot for longer.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// What an endpoint reads for each scrape.
pub type MetricsSource = Arc<dyn Fn() -> Metrics + Send + Sync>;

/// A running metrics endpoint. It serves until [`MetricsEndpoint::stop`]
/// (dropping the handle does not stop it).
///
/// ```
/// # async_std::task::block_on(async {
/// use std::sync::Arc;
/// use netunnel_core::client::{Client, ClientSettings};
/// use netunnel_core::frontend::MetricsEndpoint;
/// use netunnel_core::{AsyncStdRuntime, HttpTransport};
///
/// let rt = AsyncStdRuntime::shared();
/// let transport = Arc::new(HttpTransport::new(rt.clone(), "http://127.0.0.1:4040")?);
/// let client = Client::new(rt.clone(), transport, ClientSettings::default());
/// let source = Arc::new(move || client.metrics());
/// let endpoint = MetricsEndpoint::start(rt, "127.0.0.1", 0, source).await?;
/// assert_ne!(endpoint.local_addr().port(), 0);
/// endpoint.stop().await;
/// # Ok::<(), netunnel_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MetricsEndpoint {
    local_addr: SocketAddr,
    stop: Arc<StopSignal>,
    tasks: Arc<TaskTracker>,
}

impl MetricsEndpoint {
    /// Listens on `host:port` (0: a free port) and answers `GET /metrics`
    /// with `source`'s reading, any other path with 404.
    pub async fn start(
        rt: RuntimeRef,
        host: &str,
        port: u16,
        source: MetricsSource,
    ) -> Result<MetricsEndpoint> {
        let listener = rt
            .listen(host.to_string(), port)
            .await
            .map_err(|err| Error::io(format!("cannot listen on {host}:{port} for metrics"), err))?;
        let local_addr = listener
            .local_addr()
            .map_err(|err| Error::io("reading the metrics address", err))?;
        let stop = Arc::new(StopSignal::new());
        let tasks = Arc::new(TaskTracker::new());
        let open = Arc::new(AtomicUsize::new(0));
        let (signal, token, spawner) = (Arc::clone(&stop), tasks.token(), Arc::clone(&rt));
        let conn_tasks = Arc::clone(&tasks);
        rt.spawn(crate::instance::inherit(async move {
            let mut stopped = signal.wait();
            let what = "a metrics connection";
            while let Some((conn, _)) =
                super::http_server::next_connection(&*spawner, &*listener, &mut stopped, what).await
            {
                if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    open.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
                let (rt, source, open, token) = (
                    Arc::clone(&spawner),
                    Arc::clone(&source),
                    Arc::clone(&open),
                    conn_tasks.token(),
                );
                let stopping = signal.wait();
                spawner.spawn(crate::instance::inherit(async move {
                    let serving = async {
                        if let Some(conn) =
                            super::request_head::first(&*rt, conn, HEAD_TIMEOUT).await
                        {
                            serve(super::http_server::shared(conn), &source).await;
                        }
                    };
                    let bounded = crate::runtime::timeout(&*rt, CONNECTION_LIFETIME, serving);
                    select(std::pin::pin!(bounded), stopping).await;
                    open.fetch_sub(1, Ordering::AcqRel);
                    drop(token);
                }));
            }
            drop(token);
        }));
        Ok(MetricsEndpoint {
            local_addr,
            stop,
            tasks,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening, closes the connections being served, and returns
    /// once they are gone.
    pub async fn stop(&self) {
        self.stop.fire();
        self.tasks.wait().await;
    }
}

async fn serve<RW>(stream: RW, source: &MetricsSource)
where
    RW: futures::AsyncRead + futures::AsyncWrite + Clone + Send + Sync + Unpin + 'static,
{
    let served = async_h1::accept(stream, |request| {
        let response = answer(&request, source);
        async move { Ok(response) }
    })
    .await;
    if let Err(err) = served {
        record!(debug, TARGET_CLIENT, "metrics connection ended: {err}");
    }
}

fn answer(request: &http_types::Request, source: &MetricsSource) -> Response {
    if request.url().path() != "/metrics" {
        let mut res = Response::new(StatusCode::NotFound);
        res.set_body("not found: the metrics are at /metrics\n");
        return res;
    }
    if request.method() != http_types::Method::Get {
        let mut res = Response::new(StatusCode::MethodNotAllowed);
        res.insert_header("Allow", "GET");
        return res;
    }
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(source().to_prometheus());
    res.insert_header("Content-Type", CONTENT_TYPE);
    res
}
