//! In-process helpers of the core tests: every test on smol (the crate's
//! `SmolRuntime`, threads of its own) and async-std, websocket pairs over
//! loopback TCP, and entrance -> exit chains.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::tunnel::{Entrance, Exit, SpareSettings, SpareSource};
use crate::ws::{self, Heartbeat, WebSocket};
use crate::{Error, RuntimeRef};
use futures::future::BoxFuture;
use futures::AsyncReadExt;

pub(super) fn on_every_runtime<F, Fut>(test: F)
where
    F: Fn(RuntimeRef) -> Fut,
    Fut: Future<Output = ()>,
{
    let smol = crate::runtime::SmolRuntime::new(2).unwrap();
    smol::block_on(test(smol.clone()));
    smol.shutdown();
    #[cfg(feature = "async-std")]
    async_std::task::block_on(test(crate::AsyncStdRuntime::shared()));
}

/// A websocket pair over a real loopback TCP connection.
pub(super) async fn ws_pair(rt: &RuntimeRef) -> (WebSocket, WebSocket) {
    let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = async {
        let (conn, _) = listener.accept().await.unwrap();
        async_tungstenite::accept_async_with_config(conn, Some(ws::config()))
            .await
            .unwrap()
    };
    let client = async {
        let conn = rt.connect("127.0.0.1".into(), port).await.unwrap();
        let url = format!("ws://127.0.0.1:{port}/");
        async_tungstenite::client_async_with_config(url, conn, Some(ws::config()))
            .await
            .unwrap()
            .0
    };
    futures::join!(server, client)
}

pub(super) async fn with_deadline<F: Future>(rt: &RuntimeRef, future: F) -> F::Output {
    crate::runtime::timeout(&**rt, Duration::from_secs(30), future)
        .await
        .expect("test step timed out")
}

/// Polls `condition` every 5 ms, within the test deadline.
pub(super) async fn until(rt: &RuntimeRef, mut condition: impl FnMut() -> bool) {
    with_deadline(rt, async {
        while !condition() {
            rt.sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Opens spares by connecting to a websocket acceptor that feeds an exit.
pub(super) struct DialExit {
    rt: RuntimeRef,
    port: u16,
    opened: Arc<std::sync::atomic::AtomicUsize>,
}

impl SpareSource for DialExit {
    fn open(&self) -> BoxFuture<'static, crate::Result<Option<WebSocket>>> {
        let rt = self.rt.clone();
        let port = self.port;
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let conn = rt
                .connect("127.0.0.1".into(), port)
                .await
                .map_err(|e| Error::io("dial", e))?;
            let url = format!("ws://127.0.0.1:{port}/");
            let (ws, _) =
                async_tungstenite::client_async_with_config(url, conn, Some(ws::config()))
                    .await
                    .map_err(Error::websocket)?;
            Ok(Some(ws))
        })
    }
}

pub(super) async fn echo_service(rt: &RuntimeRef) -> u16 {
    let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let spawner = rt.clone();
    rt.spawn(Box::pin(async move {
        let listener = listener;
        while let Ok((conn, _)) = listener.accept().await {
            spawner.spawn(Box::pin(async move {
                let (reader, mut writer) = conn.split();
                let _ = futures::io::copy(reader, &mut writer).await;
            }));
        }
    }));
    port
}

/// An entrance -> websocket -> exit chain to `target_port`, with the
/// heartbeat of our client's entrance and no pings from the exit (as our
/// server's); returns the entrance, the exit and the count of websockets opened.
pub(super) async fn tunnel_to(
    rt: &RuntimeRef,
    target_port: u16,
    reuse: bool,
) -> (Arc<Entrance>, Arc<Exit>, Arc<AtomicUsize>) {
    tunnel_with(rt, target_port, reuse, Some(Heartbeat::default()), None).await
}

/// [`tunnel_to`] with the heartbeat of each end given.
pub(super) async fn tunnel_with(
    rt: &RuntimeRef,
    target_port: u16,
    reuse: bool,
    entrance_heartbeat: Option<Heartbeat>,
    exit_heartbeat: Option<Heartbeat>,
) -> (Arc<Entrance>, Arc<Exit>, Arc<AtomicUsize>) {
    let exit = Exit::new(
        rt.clone(),
        "127.0.0.1".into(),
        target_port,
        exit_heartbeat,
        reuse,
        crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Exit),
    );
    let acceptor = rt.listen("127.0.0.1".into(), 0).await.unwrap();
    let ws_port = acceptor.local_addr().unwrap().port();
    let serving = exit.clone();
    let spawner = rt.clone();
    rt.spawn(Box::pin(async move {
        while let Ok((conn, _)) = acceptor.accept().await {
            let exit = serving.clone();
            spawner.spawn(Box::pin(async move {
                if let Ok(ws) =
                    async_tungstenite::accept_async_with_config(conn, Some(ws::config())).await
                {
                    exit.serve(ws);
                }
            }));
        }
    }));
    let listener = rt.listen("127.0.0.1".into(), 0).await.unwrap();
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let source = Arc::new(DialExit {
        rt: rt.clone(),
        port: ws_port,
        opened: opened.clone(),
    });
    let entrance = Entrance::start(
        rt.clone(),
        listener,
        source,
        SpareSettings::new(entrance_heartbeat),
        reuse,
        crate::metrics::TunnelStats::detached(crate::metrics::EndKind::Entrance),
    )
    .unwrap();
    with_deadline(rt, entrance.wait_ready()).await;
    (entrance, exit, opened)
}
