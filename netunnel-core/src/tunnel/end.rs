//! One end of a tunnel, as whichever side holds it: the entrance or the exit.

use std::sync::Arc;
use std::time::Duration;

use super::{Entrance, Exit};
use crate::runtime::Runtime;

/// How long a forced stop waits for a tunnel end's tasks.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One end of a tunnel, as held by whichever side owns it.
#[derive(Debug, Clone)]
pub(crate) enum TunnelEnd {
    /// This side listens.
    Entrance(Arc<Entrance>),
    /// This side connects out.
    Exit(Arc<Exit>),
}

impl TunnelEnd {
    /// Closes every connection of the tunnel end.
    pub(crate) fn stop(&self) {
        match self {
            TunnelEnd::Entrance(entrance) => entrance.stop(),
            TunnelEnd::Exit(exit) => exit.stop(),
        }
    }

    /// What the tunnel end has carried.
    pub(crate) fn stats(&self) -> &Arc<crate::metrics::TunnelStats> {
        match self {
            TunnelEnd::Entrance(entrance) => entrance.stats(),
            TunnelEnd::Exit(exit) => exit.stats(),
        }
    }

    /// Takes no new connection; the open ones go on until they end.
    pub(crate) fn drain(&self) {
        match self {
            TunnelEnd::Entrance(entrance) => entrance.drain(),
            TunnelEnd::Exit(exit) => exit.drain(),
        }
    }

    /// Waits until every task of the tunnel end has finished.
    pub(crate) async fn wait_stopped(&self) {
        match self {
            TunnelEnd::Entrance(entrance) => entrance.wait_stopped().await,
            TunnelEnd::Exit(exit) => exit.wait_stopped().await,
        }
    }

    /// Ends the tunnel end and waits for it. With `force` its connections
    /// close at once and the wait is bounded (5 s); without, it
    /// drains, and the wait lasts as long as its open connections do.
    pub(crate) async fn finish(&self, rt: &dyn Runtime, force: bool) {
        if force {
            self.stop();
            crate::runtime::timeout(rt, STOP_GRACE, self.wait_stopped()).await;
        } else {
            self.drain();
            self.wait_stopped().await;
        }
    }
}
