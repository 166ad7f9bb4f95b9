//! SIGINT / SIGTERM as a future.

use futures::channel::oneshot;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Completes at the first SIGINT or SIGTERM. Must be called before any work
/// starts so no early signal is missed.
pub fn termination() -> anyhow::Result<oneshot::Receiver<i32>> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = tx.send(signal);
            }
        })?;
    Ok(rx)
}
