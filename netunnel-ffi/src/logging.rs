//! The log callback: the engine's records, handed to C.

use std::ffi::{c_char, c_void};
use std::sync::RwLock;

use crate::boundary::{call, Failure};
use crate::result::netunnel_result;

/// How much the log callback is given.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum netunnel_log_level {
    /// Nothing.
    NETUNNEL_LOG_OFF = 0,
    /// Failures.
    NETUNNEL_LOG_ERROR = 1,
    /// Failures and what may lead to one.
    NETUNNEL_LOG_WARN = 2,
    /// Servers, channels and tunnels starting and stopping.
    NETUNNEL_LOG_INFO = 3,
    /// Every connection.
    NETUNNEL_LOG_DEBUG = 4,
    /// Everything.
    NETUNNEL_LOG_TRACE = 5,
}

/// Receives one log record: its level, its target (`netunnel::server`,
/// `netunnel::client`, `netunnel::tunnel`, ...), the server or client it is
/// about (`server-1`, `client-2`; `""` when none) and the message. The strings
/// are valid during the call only. Called from any thread, several at once:
/// the library's, and a caller's own during one of its calls. It must not call
/// libnetunnel (it would deadlock or fail), nor wait for a lock the calling
/// thread may hold; copying the record somewhere is what it is for.
#[allow(non_camel_case_types)]
pub type netunnel_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: netunnel_log_level,
        target: *const c_char,
        instance: *const c_char,
        message: *const c_char,
    ),
>;

struct Sink {
    callback: unsafe extern "C" fn(
        *mut c_void,
        netunnel_log_level,
        *const c_char,
        *const c_char,
        *const c_char,
    ),
    userdata: *mut c_void,
}

// SAFETY: the caller of `netunnel_set_log_callback` promises the callback may
// be called from any thread with its userdata.
unsafe impl Send for Sink {}
// SAFETY: as above; the sink itself is never mutated while shared.
unsafe impl Sync for Sink {}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

struct CLogger;

static LOGGER: CLogger = CLogger;

fn level_of(level: log::Level) -> netunnel_log_level {
    match level {
        log::Level::Error => netunnel_log_level::NETUNNEL_LOG_ERROR,
        log::Level::Warn => netunnel_log_level::NETUNNEL_LOG_WARN,
        log::Level::Info => netunnel_log_level::NETUNNEL_LOG_INFO,
        log::Level::Debug => netunnel_log_level::NETUNNEL_LOG_DEBUG,
        log::Level::Trace => netunnel_log_level::NETUNNEL_LOG_TRACE,
    }
}

/// The filter for a level given by C as a plain number: a value outside the
/// enum (which C allows) is refused rather than read as an enum (which would
/// be undefined behaviour in Rust).
fn filter_of(level: u32) -> Option<log::LevelFilter> {
    Some(match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        5 => log::LevelFilter::Trace,
        _ => return None,
    })
}

impl log::Log for CLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("netunnel")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(sink) = SINK.read() else {
            return;
        };
        let Some(sink) = sink.as_ref() else {
            return;
        };
        let instance = record
            .key_values()
            .get(log::kv::Key::from_str("instance"))
            .map(|value| value.to_string())
            .unwrap_or_default();
        let target = crate::text::kept(record.target());
        let instance = crate::text::kept(&instance);
        let message = crate::text::kept(&record.args().to_string());
        // SAFETY: the callback and userdata the caller registered; the
        // strings live until after the call.
        unsafe {
            (sink.callback)(
                sink.userdata,
                level_of(record.level()),
                target.as_ptr(),
                instance.as_ptr(),
                message.as_ptr(),
            )
        }
    }

    fn flush(&self) {}
}

/// Sends the library's log records up to `level` (a `netunnel_log_level`) to
/// `callback` (with `userdata`); a NULL callback or `NETUNNEL_LOG_OFF` turns
/// logging off. Replacing the callback waits for calls of the old one under
/// way: once this returns, the old callback is not called again. Fails with
/// `NETUNNEL_INVALID_ARGUMENT` for a level outside the enum, and with
/// `NETUNNEL_CONFIG` when the process already has another Rust logger.
#[no_mangle]
pub extern "C" fn netunnel_set_log_callback(
    callback: netunnel_log_callback,
    userdata: *mut c_void,
    level: u32,
) -> netunnel_result {
    call(|| {
        let filter = filter_of(level)
            .ok_or_else(|| Failure::invalid("level", "not a netunnel_log_level"))?;
        static OURS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if !*OURS.get_or_init(|| log::set_logger(&LOGGER).is_ok()) {
            return Err(Failure::new(
                netunnel_result::NETUNNEL_CONFIG,
                "this process already has a Rust logger; libnetunnel cannot install its own",
            ));
        }
        let mut sink = SINK
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *sink = callback.map(|callback| Sink { callback, userdata });
        log::set_max_level(if sink.is_some() {
            filter
        } else {
            log::LevelFilter::Off
        });
        Ok(())
    })
}
