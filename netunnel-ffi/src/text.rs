//! C strings and out-pointers: what comes in is checked (NULL, UTF-8), what
//! goes out is allocated by the library and freed with `netunnel_string_free`.

use std::ffi::{c_char, CStr, CString};

use crate::boundary::Failure;

/// A required string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn required<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    // SAFETY: the caller's contract.
    unsafe { optional(ptr, name) }?.ok_or_else(|| Failure::null(name))
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As [`required`].
pub(crate) unsafe fn optional<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL, and NUL-terminated per the caller's contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map(Some)
        .map_err(|_| Failure::invalid(name, "not UTF-8"))
}

/// An HTTP method argument: `"GET"`, `"POST"` or `"DELETE"`.
///
/// # Safety
/// As [`required`].
pub(crate) unsafe fn method(
    ptr: *const c_char,
    name: &str,
) -> Result<netunnel_core::transport::Method, Failure> {
    use netunnel_core::transport::Method;
    // SAFETY: the caller's contract.
    match unsafe { required(ptr, name) }? {
        "GET" => Ok(Method::Get),
        "POST" => Ok(Method::Post),
        "DELETE" => Ok(Method::Delete),
        other => Err(Failure::invalid(
            name,
            format!("`{other}` is not GET, POST or DELETE"),
        )),
    }
}

/// An optional JSON argument: NULL is `None`.
///
/// # Safety
/// As [`required`].
pub(crate) unsafe fn json(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<serde_json::Value>, Failure> {
    // SAFETY: the caller's contract.
    let Some(text) = (unsafe { optional(ptr, name) })? else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|err| Failure::invalid(name, format!("not JSON: {err}")))
}

/// Writes `value` through a required out-pointer.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn put<T>(out: *mut T, name: &str, value: T) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: not NULL, and valid for writes per the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// A string for the caller to free with [`netunnel_string_free`].
pub(crate) fn owned(text: String) -> *mut c_char {
    let text = text.split('\0').next().unwrap_or_default().to_string();
    CString::new(text).unwrap_or_default().into_raw()
}

/// A string kept inside a handle (valid as long as the handle).
pub(crate) fn kept(text: &str) -> CString {
    CString::new(text.split('\0').next().unwrap_or_default()).unwrap_or_default()
}

/// Frees a string the library returned (JSON results, versions). NULL is a
/// no-op. Strings the library keeps (`netunnel_last_error`, a server's URL)
/// must not be passed here.
///
/// # Safety
/// `text` is NULL or a string returned to the caller by libnetunnel, not
/// freed before.
#[no_mangle]
pub unsafe extern "C" fn netunnel_string_free(text: *mut c_char) {
    if text.is_null() {
        return;
    }
    // SAFETY: made by `CString::into_raw` in `owned`, per the contract.
    drop(unsafe { CString::from_raw(text) });
}
