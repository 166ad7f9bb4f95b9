//! Tunnel ends: the entrance (listens on TCP, rides spare websockets) and the
//! exit (receives websockets, connects to TCP).

mod cap;
mod end;
mod entrance;
mod exit;
mod idle;

pub(crate) use cap::Refusing;
pub(crate) use end::TunnelEnd;
pub(crate) use entrance::{Entrance, SpareSettings, SpareSource};
pub(crate) use exit::Exit;

use std::future::Future;

use futures::FutureExt;

use crate::runtime::Runtime;
use crate::sync::TaskTracker;

/// Spawns `future` on `rt`, counted by `tracker`.
///
/// The token rides on a `map` rather than an `async` block awaiting `future`:
/// such a block stores the future twice (once captured, once awaited), which
/// doubled the memory of every tunnelled connection's task.
pub(crate) fn spawn_tracked<F>(rt: &dyn Runtime, tracker: &TaskTracker, future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let token = tracker.token();
    rt.spawn(crate::instance::inherit(future.map(move |()| drop(token))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{BoxConn, Listener};
    use futures::future::BoxFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A runtime that only records the size of what it is asked to spawn.
    #[derive(Default)]
    struct SizeOfSpawned(AtomicUsize);

    impl Runtime for SizeOfSpawned {
        fn spawn(&self, future: BoxFuture<'static, ()>) {
            self.0
                .store(std::mem::size_of_val(&*future), Ordering::Relaxed);
        }
        fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
            Box::pin(futures::future::pending())
        }
        fn listen(
            &self,
            _: String,
            _: u16,
        ) -> BoxFuture<'static, std::io::Result<Box<dyn Listener>>> {
            Box::pin(futures::future::ready(Err(
                std::io::ErrorKind::Unsupported.into()
            )))
        }
        fn connect(&self, _: String, _: u16) -> BoxFuture<'static, std::io::Result<BoxConn>> {
            Box::pin(futures::future::ready(Err(
                std::io::ErrorKind::Unsupported.into()
            )))
        }
        fn unblock(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'static, ()> {
            work();
            Box::pin(futures::future::ready(()))
        }
    }

    #[test]
    fn a_tracked_task_stores_its_future_once() {
        let rt = SizeOfSpawned::default();
        let tracker = TaskTracker::new();
        let big = async {
            let buffer = [7u8; 4096];
            futures::future::ready(()).await;
            assert_eq!(buffer[4095], 7);
        };
        let size = std::mem::size_of_val(&big);
        spawn_tracked(&rt, &tracker, big);
        let spawned = rt.0.load(Ordering::Relaxed);
        assert!(
            spawned < size + 64,
            "a {size}-byte future became a {spawned}-byte task"
        );
    }
}
