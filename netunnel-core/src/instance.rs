//! Which server or client a log record is about.
//!
//! Every record the library logs has one of the stable targets below and the
//! key `instance`, the [`Instance`] of the server or client it is about
//! (`server-1`, `client-2`; empty for records outside any, e.g. of a bare
//! `ServerCore`). Two servers in one process, or one Python logger per object,
//! are told apart by it.
//!
//! The instance travels with the work, not through every constructor: the
//! facades run their calls inside a scope of their instance, and every task the
//! library spawns keeps the instance that was current where it was spawned.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;

/// Log target of the server: channels, tunnels, configuration routes, HTTP.
pub const TARGET_SERVER: &str = "netunnel::server";
/// Log target of the client: its channel and its tunnels' set-up.
pub const TARGET_CLIENT: &str = "netunnel::client";
/// Log target of tunnel ends and the connections they carry.
pub const TARGET_TUNNEL: &str = "netunnel::tunnel";
/// Log target of control channels (either side).
pub const TARGET_CHANNEL: &str = "netunnel::channel";
/// Log target of peers and static tunnels.
pub const TARGET_PEER: &str = "netunnel::peer";
/// Log target of authentication plugins and TLS.
pub const TARGET_AUTH: &str = "netunnel::auth";

/// What an [`Instance`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceKind {
    /// A `Server`.
    Server,
    /// A `Client`.
    Client,
}

/// A server or client, as log records name it (`server-1`, `client-2`): ids
/// are unique in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance {
    kind: InstanceKind,
    id: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: Cell<Option<Instance>> = const { Cell::new(None) };
}

impl Instance {
    /// A new instance of `kind`, with an id of its own.
    pub(crate) fn new(kind: InstanceKind) -> Instance {
        Instance {
            kind,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Server or client.
    pub fn kind(&self) -> InstanceKind {
        self.kind
    }

    /// Its id, unique in the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The instance whose work is running on this thread now, if any.
    pub(crate) fn current() -> Option<Instance> {
        CURRENT.with(Cell::get)
    }

    /// Runs `future` as this instance's work: its records, and those of the
    /// tasks it spawns, carry this instance.
    pub(crate) fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped {
            instance: Some(self),
            future,
        }
    }
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            InstanceKind::Server => "server",
            InstanceKind::Client => "client",
        };
        write!(f, "{kind}-{}", self.id)
    }
}

/// The current instance as records carry it (empty when none).
pub(crate) fn label() -> String {
    Instance::current()
        .map(|i| i.to_string())
        .unwrap_or_default()
}

pin_project_lite::pin_project! {
    /// A future polled as some instance's work.
    pub(crate) struct Scoped<F> {
        instance: Option<Instance>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _restore = Restore(CURRENT.with(|current| current.replace(*this.instance)));
        this.future.poll(cx)
    }
}

/// Puts the previous instance back when a poll ends, by return or by panic.
struct Restore(Option<Instance>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.0));
    }
}

/// `future`, boxed to be spawned, keeping the instance current here (none
/// included: whoever polls it later does not lend it theirs). One allocation:
/// the future and its instance together.
pub(crate) fn inherit<F>(future: F) -> BoxFuture<'static, ()>
where
    F: Future<Output = ()> + Send + 'static,
{
    Box::pin(Scoped {
        instance: Instance::current(),
        future,
    })
}

/// Logs at `$level` with a stable target and the current instance.
macro_rules! record {
    ($level:ident, $target:expr, $($arg:tt)+) => {
        log::$level!(target: $target, instance = $crate::instance::label().as_str(); $($arg)+)
    };
}
pub(crate) use record;

/// Whether a log record may be passed on to a log's reader: the engine's
/// own at any level, other crates' down to debug. Their trace records can
/// carry what travels (async-h1 logs whole requests, `Authorization` headers
/// included). The `netunnel` command and the Python package filter with it.
pub fn safe_to_log(metadata: &log::Metadata<'_>) -> bool {
    metadata.target().starts_with("netunnel") || metadata.level() <= log::Level::Debug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_sets_the_instance_only_while_its_future_is_polled() {
        let a = Instance::new(InstanceKind::Server);
        let b = Instance::new(InstanceKind::Client);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.to_string(), format!("server-{}", a.id()));
        assert_eq!(Instance::current(), None);
        let seen = futures::executor::block_on(a.scope(async {
            let outer = Instance::current();
            let inner = b.scope(async { Instance::current() }).await;
            (outer, inner, Instance::current())
        }));
        assert_eq!(seen, (Some(a), Some(b), Some(a)));
        assert_eq!(Instance::current(), None);
        // A task made inside the scope keeps its instance when run outside.
        let mut spawned = None;
        futures::executor::block_on(a.scope(async {
            spawned = Some(inherit(async move {
                assert_eq!(Instance::current(), Some(a));
            }));
        }));
        futures::executor::block_on(spawned.expect("made in the scope"));
        assert_eq!(label(), "");
        // A task made outside any scope stays outside, even polled inside one.
        let anonymous = inherit(async {
            assert_eq!(Instance::current(), None);
        });
        futures::executor::block_on(b.scope(anonymous));
        // A panic inside a scope does not leave its instance behind.
        let panicked = std::panic::catch_unwind(|| {
            futures::executor::block_on(a.scope(async { panic!("expected in this test") }))
        });
        assert!(panicked.is_err());
        assert_eq!(Instance::current(), None);
    }
}
