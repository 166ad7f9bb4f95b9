//! The engine's log records into Python's `logging` (through pyo3-log), with
//! a switch the package turns off at interpreter exit: after that no engine
//! thread calls into Python, which would crash a finalizing interpreter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use log::{Level, LevelFilter, Log, Metadata, Record};
use netunnel_core::instance::safe_to_log;
use pyo3::prelude::*;

/// Whether records still go to Python.
static OPEN: AtomicBool = AtomicBool::new(true);
/// Held (read) while a record is being handed to Python; taken (write) by
/// [`close_logging`] to wait for those under way.
static IN_FLIGHT: RwLock<()> = RwLock::new(());

/// The `logger` given to a server or client, by its instance (`server-1`),
/// with the logger's effective level when it was given.
struct Owned {
    // An `Arc`: cloned under the registry's lock without the GIL (taking the
    // GIL while holding the lock could deadlock against `own`).
    logger: std::sync::Arc<Py<PyAny>>,
    level: u32,
}

static OWNED: Mutex<Option<HashMap<String, Owned>>> = Mutex::new(None);

/// Sends the records of `instance` to `logger` (a `logging.Logger`), as
/// NETunnel 1.0.x's `logger=` argument does. Its level is read once, here.
pub(crate) fn own(py: Python<'_>, instance: String, logger: Py<PyAny>) -> PyResult<()> {
    let level = logger
        .bind(py)
        .call_method0("getEffectiveLevel")?
        .extract()?;
    if let Ok(mut owned) = OWNED.lock() {
        owned.get_or_insert_with(HashMap::new).insert(
            instance,
            Owned {
                logger: std::sync::Arc::new(logger),
                level,
            },
        );
    }
    Ok(())
}

/// Forgets the logger of `instance` (its object is gone).
pub(crate) fn disown(instance: &str) {
    let removed = OWNED
        .lock()
        .ok()
        .and_then(|mut owned| owned.as_mut().and_then(|map| map.remove(instance)));
    // Dropped with the GIL where there is one; pyo3 defers it otherwise.
    drop(removed);
}

fn python_level(level: Level) -> u32 {
    match level {
        Level::Error => 40,
        Level::Warn => 30,
        Level::Info => 20,
        Level::Debug | Level::Trace => 10,
    }
}

/// Hands `record` to its owner's logger; false when it has none.
fn to_owner(record: &Record<'_>) -> bool {
    let Some(instance) = record
        .key_values()
        .get(log::kv::Key::from_str("instance"))
        .map(|value| value.to_string())
    else {
        return false;
    };
    let level = python_level(record.level());
    let logger = {
        let Ok(owned) = OWNED.lock() else {
            return false;
        };
        match owned.as_ref().and_then(|map| map.get(&instance)) {
            None => return false,
            Some(owned) if level < owned.level => return true,
            Some(owned) => std::sync::Arc::clone(&owned.logger),
        }
    };
    let message = record.args().to_string();
    Python::attach(|py| {
        let _ = logger.bind(py).call_method1("log", (level, "%s", message));
    });
    true
}

struct Bridge(pyo3_log::Logger);

impl Log for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        OPEN.load(Ordering::Acquire) && safe_to_log(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        // `try_read`: while `close_logging` waits to close, a record is
        // dropped rather than queued behind it (a thread holding the GIL that
        // logs would otherwise wait for a writer that waits for the GIL).
        let Ok(_in_flight) = IN_FLIGHT.try_read() else {
            return;
        };
        if OPEN.load(Ordering::Acquire)
            && safe_to_log(record.metadata())
            && !to_owner(record)
            && self.0.enabled(record.metadata())
        {
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
