//! Tunnel ends: the entrance (listens on TCP, rides spare websockets) and the
//! exit (receives websockets, connects to TCP).

mod entrance;
mod exit;

pub use entrance::{Entrance, SpareSource};
pub use exit::Exit;

use std::future::Future;

use crate::runtime::Runtime;
use crate::sync::TaskTracker;

/// Spawns `future` on `rt`, counted by `tracker`.
pub(crate) fn spawn_tracked<F>(rt: &dyn Runtime, tracker: &TaskTracker, future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let token = tracker.token();
    rt.spawn(Box::pin(async move {
        future.await;
        drop(token);
    }));
}
