//! The edge between C and Rust: every entry point runs its body through
//! [`call`] (or [`query`]), which catches panics, turns failures into a
//! [`netunnel_result`] and keeps the failure's message for
//! `netunnel_last_error()`, per thread.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::result::netunnel_result;

/// A failed call: its code and what the caller is told.
#[derive(Debug)]
pub(crate) struct Failure {
    code: netunnel_result,
    message: String,
}

impl Failure {
    /// A failure of the C library's own (a NULL or invalid argument).
    pub(crate) fn new(code: netunnel_result, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// `name` was NULL.
    pub(crate) fn null(name: &str) -> Failure {
        Failure::new(
            netunnel_result::NETUNNEL_NULL_ARGUMENT,
            format!("`{name}` is NULL"),
        )
    }

    /// `name` is not usable: `why`.
    pub(crate) fn invalid(name: &str, why: impl std::fmt::Display) -> Failure {
        Failure::new(
            netunnel_result::NETUNNEL_INVALID_ARGUMENT,
            format!("`{name}` is not valid: {why}"),
        )
    }
}

impl From<netunnel_core::Error> for Failure {
    fn from(err: netunnel_core::Error) -> Failure {
        // The engine's messages carry no secrets (its own rule).
        Failure::new(err.kind().into(), err.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn remember(message: &str) {
    // A message with a NUL inside is cut there rather than lost.
    let text = message.split('\0').next().unwrap_or_default();
    let text = CString::new(text).unwrap_or_default();
    // `try_with`: during the thread's teardown the message is dropped rather
    // than panicking out of an `extern "C"` function.
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = text;
        }
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    format!("libnetunnel panicked (a bug; please report it): {what}")
}

/// Runs the body of an entry point that returns a [`netunnel_result`]. A
/// failure, or a panic, is remembered for `netunnel_last_error()`; success
/// clears the message.
pub(crate) fn call(body: impl FnOnce() -> Result<(), Failure>) -> netunnel_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            remember("");
            netunnel_result::NETUNNEL_OK
        }
        Ok(Err(failure)) => {
            remember(&failure.message);
            failure.code
        }
        Err(payload) => {
            remember(&panic_message(&*payload));
            netunnel_result::NETUNNEL_PANIC
        }
    }
}

/// Runs the body of an entry point that returns a value rather than a code
/// (an accessor, a constructor): `fallback` on failure or panic, the message
/// kept as with [`call`].
pub(crate) fn query<T>(fallback: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => {
            remember("");
            value
        }
        Ok(Err(failure)) => {
            remember(&failure.message);
            fallback
        }
        Err(payload) => {
            remember(&panic_message(&*payload));
            fallback
        }
    }
}

/// The message of the last failed call on this thread, or `""` when the last
/// call succeeded (every call but this one sets or clears it). Never NULL.
/// The string belongs to the library and stays valid until the next
/// libnetunnel call on the same thread.
#[no_mangle]
pub extern "C" fn netunnel_last_error() -> *const c_char {
    static EMPTY: &std::ffi::CStr = c"";
    LAST_ERROR
        .try_with(|last| {
            last.try_borrow()
                .map_or(EMPTY.as_ptr(), |last| last.as_ptr())
        })
        .unwrap_or(EMPTY.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        let code = call(|| panic!("boom"));
        assert_eq!(code, netunnel_result::NETUNNEL_PANIC);
        // SAFETY: the pointer is this thread's last-error string, just set.
        let message = unsafe { std::ffi::CStr::from_ptr(netunnel_last_error()) };
        assert!(message.to_string_lossy().contains("boom"), "{message:?}");
        assert_eq!(call(|| Ok(())), netunnel_result::NETUNNEL_OK);
        // SAFETY: as above.
        let message = unsafe { std::ffi::CStr::from_ptr(netunnel_last_error()) };
        assert!(message.is_empty());
    }
}
