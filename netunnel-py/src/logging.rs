//! The engine's log records into Python's `logging` (through pyo3-log), with
//! a switch the package turns off at interpreter exit: after that no engine
//! thread calls into Python, which would crash a finalizing interpreter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use log::{LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;

/// Whether records still go to Python.
static OPEN: AtomicBool = AtomicBool::new(true);
/// Held (read) while a record is being handed to Python; taken (write) by
/// [`close_logging`] to wait for those under way.
static IN_FLIGHT: RwLock<()> = RwLock::new(());

struct Bridge(pyo3_log::Logger);

impl Log for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        OPEN.load(Ordering::Acquire) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let Ok(_in_flight) = IN_FLIGHT.read() else {
            return;
        };
        if OPEN.load(Ordering::Acquire) {
            self.0.log(record);
        }
    }

    fn flush(&self) {}
}

/// Installs the bridge (once per process; a second import keeps the first).
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let logger =
        pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?.filter(LevelFilter::Debug);
    if log::set_boxed_logger(Box::new(Bridge(logger))).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
    Ok(())
}

/// Stops handing records to Python and waits for the ones under way (called
/// by the package's `atexit` hook, before the interpreter finalizes).
#[pyfunction]
pub(crate) fn close_logging(py: Python<'_>) {
    OPEN.store(false, Ordering::Release);
    // Without the GIL: a record under way may be waiting for it.
    py.detach(|| drop(IN_FLIGHT.write()));
}
