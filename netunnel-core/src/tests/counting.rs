//! What tunnel ends count for the metrics, where only an in-process test
//! can hold the moment still: connections waiting for a websocket that
//! never comes.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::in_process::*;
use crate::metrics::{EndKind, Failure, TunnelStats};
use crate::tunnel::{Entrance, SpareSettings, SpareSource};
use crate::ws::WebSocket;
use crate::RuntimeRef;

/// A source whose websockets never arrive.
struct Never;

impl SpareSource for Never {
    fn open(&self) -> BoxFuture<'static, crate::Result<Option<WebSocket>>> {
        Box::pin(futures::future::pending())
    }
}

/// A source that fails every time, as a peer that refuses the upgrade.
struct Refusing;

impl SpareSource for Refusing {
    fn open(&self) -> BoxFuture<'static, crate::Result<Option<WebSocket>>> {
        Box::pin(futures::future::ready(Err(crate::Error::Connection(
            "refused".into(),
        ))))
    }
}

/// An entrance on a free port whose spares come from `source`, counting
/// into the counters returned with it.
async fn entrance_of(
    rt: &RuntimeRef,
    source: Arc<dyn SpareSource>,
) -> (Arc<Entrance>, Arc<TunnelStats>) {
    let stats = TunnelStats::detached(EndKind::Entrance);
    let listener = rt.listen("127.0.0.1".into(), 0).await.expect("a free port");
    let entrance = Entrance::start(
        rt.clone(),
        listener,
        source,
        SpareSettings::new(None),
        true,
        Arc::clone(&stats),
    )
    .expect("an entrance");
    (entrance, stats)
}

#[test]
fn a_stopped_entrance_lets_go_of_its_waiting_connections_while_it_is_still_held() {
    on_every_runtime(|rt| async move {
        let (entrance, stats) = entrance_of(&rt, Arc::new(Never)).await;
        let port = entrance.local_addr().port();
        let mut apps = Vec::new();
        for _ in 0..3 {
            apps.push(rt.connect("127.0.0.1".into(), port).await.unwrap());
        }
        until(&rt, || stats.counts().connections_open == 3).await;
        entrance.stop();
        // `entrance` is still held here, as a user's tunnel handle holds it.
        until(&rt, || stats.counts().connections_open == 0).await;
        assert_eq!(stats.counts().connections_total, 3);
        drop(apps);
    });
}

#[test]
fn a_websocket_that_cannot_be_opened_counts_as_a_failure() {
    on_every_runtime(|rt| async move {
        let (entrance, stats) = entrance_of(&rt, Arc::new(Refusing)).await;
        until(&rt, || stats.counts().failed(Failure::WebsocketFailed) >= 1).await;
        entrance.stop();
        entrance.wait_stopped().await;
    });
}
