//! Small synchronisation helpers: a one-shot stop signal and a task tracker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};

/// A signal that fires once and can be awaited by any number of tasks.
#[derive(Debug)]
pub(crate) struct StopSignal {
    sender: Mutex<Option<oneshot::Sender<()>>>,
    receiver: Shared<oneshot::Receiver<()>>,
    fired: AtomicBool,
}

impl Default for StopSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl StopSignal {
    /// A signal that has not fired.
    pub(crate) fn new() -> Self {
        let (sender, receiver) = oneshot::channel();
        StopSignal {
            sender: Mutex::new(Some(sender)),
            receiver: receiver.shared(),
            fired: AtomicBool::new(false),
        }
    }

    /// Fires the signal; returns `true` the first time only.
    pub(crate) fn fire(&self) -> bool {
        if self.fired.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        true
    }

    /// Whether [`StopSignal::fire`] was called.
    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Completes once the signal fired.
    pub(crate) fn wait(&self) -> impl std::future::Future<Output = ()> + Send + Unpin + 'static {
        self.receiver.clone().map(|_| ())
    }
}

/// Counts running tasks so a shutdown can wait for them to finish.
#[derive(Debug)]
pub(crate) struct TaskTracker {
    sender: Mutex<Option<async_channel::Sender<()>>>,
    receiver: async_channel::Receiver<()>,
}

/// Held by a tracked task; dropping it marks the task finished.
#[derive(Debug, Clone)]
pub(crate) struct TaskToken(#[allow(dead_code)] Option<async_channel::Sender<()>>);

impl Default for TaskTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskTracker {
    /// An empty tracker.
    pub(crate) fn new() -> Self {
        let (sender, receiver) = async_channel::bounded(1);
        TaskTracker {
            sender: Mutex::new(Some(sender)),
            receiver,
        }
    }

    /// A token for one more task (an inert token once [`TaskTracker::wait`] started).
    pub(crate) fn token(&self) -> TaskToken {
        TaskToken(self.sender.lock().ok().and_then(|s| s.clone()))
    }

    /// Completes when every token handed out has been dropped.
    pub(crate) async fn wait(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        while self.receiver.recv().await.is_ok() {}
    }
}
