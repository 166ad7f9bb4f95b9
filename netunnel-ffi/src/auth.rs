//! Authentication plugins written in C: tables of callbacks with userdata,
//! for the server (which requests may pass, `POST /authenticate`) and for the
//! client (authenticate, then the headers of every request). Callbacks run on
//! the library's blocking threads, never on its network threads, so they may
//! block (a C plugin may do its own I/O).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use netunnel_core::auth::{
    AuthContext, AuthRequest, AuthResponse, ClientAuth, Headers, ServerAuth,
};
use netunnel_core::Error;

use crate::boundary::{call, query, Failure};
use crate::handle::{borrow, borrow_mut};
use crate::result::netunnel_result;
use crate::runtime::{block_on, runtime};
use crate::text::{kept, optional, owned, put, required};

/// What a server plugin is asked about: one request, borrowed for the
/// duration of the callback.
pub struct netunnel_auth_request {
    method: CString,
    path: CString,
    remote_addr: Option<CString>,
    headers: Vec<(String, CString)>,
    body: Vec<u8>,
}

impl netunnel_auth_request {
    fn new(request: &AuthRequest) -> netunnel_auth_request {
        netunnel_auth_request {
            method: kept(&request.method),
            path: kept(&request.path),
            remote_addr: request.remote_addr.as_deref().map(kept),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), kept(value)))
                .collect(),
            body: request.body.clone(),
        }
    }
}

/// The answer a server plugin gives to `POST /authenticate`, filled during
/// the callback with `netunnel_auth_response_set`.
pub struct netunnel_auth_response {
    answer: Option<AuthResponse>,
}

/// A server plugin. Every callback gets the `userdata` given with the table.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct netunnel_server_auth_callbacks {
    /// Whether `request` may proceed (every route but `/authenticate`).
    /// Required.
    pub is_authenticated: Option<
        unsafe extern "C" fn(userdata: *mut c_void, request: *const netunnel_auth_request) -> bool,
    >,
    /// Answers `POST /authenticate` by filling `response` (with
    /// `netunnel_auth_response_set`); returns false when it cannot answer (the
    /// client gets HTTP 500). Required.
    pub authenticate: Option<
        unsafe extern "C" fn(
            userdata: *mut c_void,
            request: *const netunnel_auth_request,
            response: *mut netunnel_auth_response,
        ) -> bool,
    >,
    /// Called once, when the library no longer needs `userdata`. May be NULL.
    pub free_userdata: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
}

/// What a client plugin authenticates with: the server's URL and a way to
/// reach it without authentication headers. Borrowed for the callback only.
pub struct netunnel_auth_context {
    context: AuthContext,
    url: CString,
    error: Mutex<Option<String>>,
}

/// The headers a client plugin adds to every request, filled during the
/// callback with `netunnel_headers_add`.
pub struct netunnel_headers {
    headers: Headers,
}

/// A client plugin. Every callback gets the `userdata` given with the table.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct netunnel_client_auth_callbacks {
    /// Authenticates with the server `context` names (e.g. posts to
    /// `/authenticate` with `netunnel_auth_context_request` and keeps the
    /// token); returns false on failure, with a reason given to
    /// `netunnel_auth_context_set_error`. Required.
    pub authenticate: Option<
        unsafe extern "C" fn(userdata: *mut c_void, context: *const netunnel_auth_context) -> bool,
    >,
    /// Whether the client is still authenticated (false: `authenticate` runs
    /// before the next request). Required.
    pub is_authenticated: Option<unsafe extern "C" fn(userdata: *mut c_void) -> bool>,
    /// Adds the headers of every request to `headers`; returns false on
    /// failure. Required.
    pub authorized_headers:
        Option<unsafe extern "C" fn(userdata: *mut c_void, headers: *mut netunnel_headers) -> bool>,
    /// Called once, when the library no longer needs `userdata`. May be NULL.
    pub free_userdata: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
}

/// Userdata given with a table, released through its `free_userdata`.
struct Userdata {
    pointer: *mut c_void,
    free: Option<unsafe extern "C" fn(*mut c_void)>,
}

// SAFETY: the caller of `_set_auth` promises the callbacks may be called with
// this userdata from any thread (documented on the setters).
unsafe impl Send for Userdata {}
// SAFETY: as above.
unsafe impl Sync for Userdata {}

impl Drop for Userdata {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the caller's userdata, released once, as documented.
            unsafe { free(self.pointer) };
        }
    }
}

/// Runs a blocking callback on the library's blocking threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    netunnel_core::runtime::unblock(&*runtime(), work).await
}

struct CServerAuth {
    callbacks: netunnel_server_auth_callbacks,
    userdata: Arc<Userdata>,
}

impl ServerAuth for CServerAuth {
    fn is_authenticated<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, bool> {
        let request = netunnel_auth_request::new(request);
        let (callback, userdata) = (self.callbacks.is_authenticated, Arc::clone(&self.userdata));
        Box::pin(async move {
            let Some(callback) = callback else {
                return false;
            };
            blocking(move || {
                // SAFETY: the plugin's callback with its userdata; the request
                // lives until after the call.
                unsafe { callback(userdata.pointer, &request) }
            })
            .await
            .unwrap_or(false)
        })
    }

    fn authenticate<'a>(&'a self, request: &'a AuthRequest) -> BoxFuture<'a, AuthResponse> {
        let request = netunnel_auth_request::new(request);
        let (callback, userdata) = (self.callbacks.authenticate, Arc::clone(&self.userdata));
        Box::pin(async move {
            let failed = || {
                AuthResponse::json(
                    500,
                    &serde_json::json!({"error": "the authentication plugin failed"}),
                )
            };
            let Some(callback) = callback else {
                return failed();
            };
            let answer = blocking(move || {
                let mut response = netunnel_auth_response { answer: None };
                // SAFETY: the plugin's callback with its userdata; request and
                // response live until after the call.
                let done = unsafe { callback(userdata.pointer, &request, &mut response) };
                if done {
                    response.answer
                } else {
                    None
                }
            })
            .await
            .flatten();
            answer.unwrap_or_else(failed)
        })
    }

    fn client_for_peer<'a>(
        &'a self,
        _auth_data: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, netunnel_core::Result<Arc<dyn ClientAuth>>> {
        Box::pin(async {
            Err(Error::plugin(
                "a server plugin written in C cannot authenticate to peers (not supported yet)",
            ))
        })
    }
}

struct CClientAuth {
    callbacks: netunnel_client_auth_callbacks,
    userdata: Arc<Userdata>,
}

impl ClientAuth for CClientAuth {
    fn authenticate(&self, context: AuthContext) -> BoxFuture<'_, netunnel_core::Result<()>> {
        let (callback, userdata) = (self.callbacks.authenticate, Arc::clone(&self.userdata));
        Box::pin(async move {
            let callback = callback.ok_or_else(|| Error::plugin("no `authenticate` callback"))?;
            let outcome = blocking(move || {
                let context = netunnel_auth_context {
                    url: kept(context.server_url()),
                    context,
                    error: Mutex::new(None),
                };
                // SAFETY: the plugin's callback with its userdata; the context
                // lives until after the call.
                let done = unsafe { callback(userdata.pointer, &context) };
                let error = context.error.lock().ok().and_then(|mut e| e.take());
                (done, error)
            })
            .await;
            match outcome {
                Some((true, _)) => Ok(()),
                Some((false, error)) => {
                    Err(Error::plugin(error.unwrap_or_else(|| {
                        "the C plugin could not authenticate".into()
                    })))
                }
                None => Err(Error::plugin("the C plugin's `authenticate` panicked")),
            }
        })
    }

    fn is_authenticated(&self) -> BoxFuture<'_, bool> {
        let (callback, userdata) = (self.callbacks.is_authenticated, Arc::clone(&self.userdata));
        Box::pin(async move {
            let Some(callback) = callback else {
                return false;
            };
            // SAFETY: the plugin's callback with its userdata.
            blocking(move || unsafe { callback(userdata.pointer) })
                .await
                .unwrap_or(false)
        })
    }

    fn authorized_headers(&self) -> BoxFuture<'_, netunnel_core::Result<Headers>> {
        let (callback, userdata) = (
            self.callbacks.authorized_headers,
            Arc::clone(&self.userdata),
        );
        Box::pin(async move {
            let callback =
                callback.ok_or_else(|| Error::plugin("no `authorized_headers` callback"))?;
            let headers = blocking(move || {
                let mut headers = netunnel_headers {
                    headers: Vec::new(),
                };
                // SAFETY: the plugin's callback with its userdata; the headers
                // live until after the call.
                let done = unsafe { callback(userdata.pointer, &mut headers) };
                done.then_some(headers.headers)
            })
            .await
            .flatten();
            headers.ok_or_else(|| Error::plugin("the C plugin gave no headers"))
        })
    }
}

/// Checks a table and takes ownership of its userdata.
fn userdata(
    pointer: *mut c_void,
    free: Option<unsafe extern "C" fn(*mut c_void)>,
) -> Arc<Userdata> {
    Arc::new(Userdata { pointer, free })
}

/// Authenticates the server's requests with a plugin written in C. The
/// table is copied; `userdata` is passed to every callback, from the
/// library's blocking threads (several at once), until `free_userdata` is
/// called with it, once, when neither the options nor any server started from
/// them need it: that may be shortly after `netunnel_server_free` returns, on
/// a library thread. On failure `userdata` is not kept (and not freed).
/// Callbacks must not call libnetunnel functions other than the
/// `netunnel_auth_*` and `netunnel_headers_*` ones they are given.
///
/// # Safety
/// `options` is NULL or a live handle; `callbacks` is NULL or a valid table.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_auth(
    options: *mut crate::server::netunnel_server_options,
    callbacks: *const netunnel_server_auth_callbacks,
    userdata_pointer: *mut c_void,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let table = *unsafe { borrow(callbacks, "callbacks") }?;
        if table.is_authenticated.is_none() || table.authenticate.is_none() {
            return Err(Failure::invalid(
                "callbacks",
                "`is_authenticated` and `authenticate` are required",
            ));
        }
        // SAFETY: the caller's contract.
        let options = unsafe { borrow_mut(options, "options") }?;
        let plugin = CServerAuth {
            callbacks: table,
            userdata: userdata(userdata_pointer, table.free_userdata),
        };
        options.options = options.options.clone().auth(Arc::new(plugin));
        Ok(())
    })
}

/// Authenticates the client with a plugin written in C, with the same rules
/// for the table, `userdata` and callbacks as
/// `netunnel_server_options_set_auth` (`free_userdata` may come shortly after
/// `netunnel_client_free` returns).
///
/// # Safety
/// `options` is NULL or a live handle; `callbacks` is NULL or a valid table.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_options_set_auth(
    options: *mut crate::client::netunnel_client_options,
    callbacks: *const netunnel_client_auth_callbacks,
    userdata_pointer: *mut c_void,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let table = *unsafe { borrow(callbacks, "callbacks") }?;
        if table.authenticate.is_none()
            || table.is_authenticated.is_none()
            || table.authorized_headers.is_none()
        {
            return Err(Failure::invalid(
                "callbacks",
                "`authenticate`, `is_authenticated` and `authorized_headers` are required",
            ));
        }
        // SAFETY: the caller's contract.
        let options = unsafe { borrow_mut(options, "options") }?;
        options.transport.auth = Some(Arc::new(CClientAuth {
            callbacks: table,
            userdata: userdata(userdata_pointer, table.free_userdata),
        }));
        Ok(())
    })
}

/// The request's method (`GET`, `POST`, ...). Belongs to the request.
///
/// # Safety
/// `request` is NULL or the request a callback was given.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_request_method(
    request: *const netunnel_auth_request,
) -> *const c_char {
    query(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        Ok(unsafe { borrow(request, "request") }?.method.as_ptr())
    })
}

/// The request's path, without the query string. Belongs to the request.
///
/// # Safety
/// `request` is NULL or the request a callback was given.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_request_path(
    request: *const netunnel_auth_request,
) -> *const c_char {
    query(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        Ok(unsafe { borrow(request, "request") }?.path.as_ptr())
    })
}

/// The client's address (`ip:port`), or NULL when unknown. Belongs to the
/// request.
///
/// # Safety
/// `request` is NULL or the request a callback was given.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_request_remote_addr(
    request: *const netunnel_auth_request,
) -> *const c_char {
    query(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        let request = unsafe { borrow(request, "request") }?;
        Ok(request
            .remote_addr
            .as_ref()
            .map_or(std::ptr::null(), |addr| addr.as_ptr()))
    })
}

/// The first header called `name` (case-insensitive), or NULL. Belongs to
/// the request.
///
/// # Safety
/// `request` is NULL or the request a callback was given; `name` is NULL or
/// a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_request_header(
    request: *const netunnel_auth_request,
    name: *const c_char,
) -> *const c_char {
    query(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        let request = unsafe { borrow(request, "request") }?;
        // SAFETY: the caller's contract.
        let name = unsafe { required(name, "name") }?;
        Ok(request
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map_or(std::ptr::null(), |(_, value)| value.as_ptr()))
    })
}

/// The request's body (only `POST /authenticate` has one): its bytes, not
/// NUL-terminated, with their count in `*length`. Belongs to the request.
///
/// # Safety
/// `request` is NULL or the request a callback was given; `length` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_request_body(
    request: *const netunnel_auth_request,
    length: *mut usize,
) -> *const u8 {
    query(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        let request = unsafe { borrow(request, "request") }?;
        // SAFETY: the caller's contract.
        unsafe { put(length, "length", request.body.len()) }?;
        // An empty body is a pointer to a real (static) byte, not a dangling
        // one, so `memcpy(dst, body, 0)` stays defined in C.
        static EMPTY: u8 = 0;
        Ok(if request.body.is_empty() {
            &EMPTY
        } else {
            request.body.as_ptr()
        })
    })
}

/// Sets the answer to `POST /authenticate`: HTTP `status` with the JSON
/// `body_json` (NULL: `{}`).
///
/// # Safety
/// `response` is NULL or the response a callback was given; `body_json` is
/// NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_response_set(
    response: *mut netunnel_auth_response,
    status: u16,
    body_json: *const c_char,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let response = unsafe { borrow_mut(response, "response") }?;
        // SAFETY: the caller's contract.
        let body = unsafe { crate::text::json(body_json, "body_json") }?
            .unwrap_or_else(|| serde_json::json!({}));
        if !(100..=599).contains(&status) {
            return Err(Failure::invalid("status", "not an HTTP status"));
        }
        response.answer = Some(AuthResponse::json(status, &body));
        Ok(())
    })
}

/// The server's URL, path prefix included. Belongs to the context.
///
/// # Safety
/// `context` is NULL or the context a callback was given.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_context_server_url(
    context: *const netunnel_auth_context,
) -> *const c_char {
    query(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        Ok(unsafe { borrow(context, "context") }?.url.as_ptr())
    })
}

/// Sends one request to the server without authentication headers (e.g.
/// `"POST"`, `"/authenticate"`, a JSON body or NULL) and gives its HTTP status
/// in `*status` and its body in `*body` (freed with `netunnel_string_free`).
/// Any status is a success of this call: the plugin judges the answer.
///
/// # Safety
/// `context` is NULL or the context a callback was given; the strings are
/// NULL or C strings; `status` and `body` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_context_request(
    context: *const netunnel_auth_context,
    method: *const c_char,
    path: *const c_char,
    body_json: *const c_char,
    status: *mut u16,
    body: *mut *mut c_char,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let context = unsafe { borrow(context, "context") }?;
        // SAFETY: the caller's contract.
        let method = unsafe { crate::text::method(method, "method") }?;
        // SAFETY: the caller's contract.
        let path = unsafe { required(path, "path") }?;
        // SAFETY: the caller's contract.
        let json = unsafe { crate::text::json(body_json, "body_json") }?;
        if status.is_null() || body.is_null() {
            return Err(Failure::null(if status.is_null() {
                "status"
            } else {
                "body"
            }));
        }
        let reply = block_on(context.context.request(method, path, json))?;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        // SAFETY: checked not NULL; writable per the caller's contract.
        unsafe {
            put(status, "status", reply.status)?;
            put(body, "body", owned(text))
        }
    })
}

/// Gives the reason `authenticate` is about to return false (the caller of
/// the library gets it as the `NETUNNEL_PLUGIN` message).
///
/// # Safety
/// `context` is NULL or the context a callback was given; `message` is NULL
/// or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_auth_context_set_error(
    context: *const netunnel_auth_context,
    message: *const c_char,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let context = unsafe { borrow(context, "context") }?;
        // SAFETY: the caller's contract.
        let message = unsafe { optional(message, "message") }?.map(str::to_string);
        if let Ok(mut error) = context.error.lock() {
            *error = message;
        }
        Ok(())
    })
}

/// Adds one header (`name: value`) to every request.
///
/// # Safety
/// `headers` is NULL or the headers a callback was given; `name` and `value`
/// are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn netunnel_headers_add(
    headers: *mut netunnel_headers,
    name: *const c_char,
    value: *const c_char,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let headers = unsafe { borrow_mut(headers, "headers") }?;
        // SAFETY: the caller's contract.
        let name = unsafe { required(name, "name") }?;
        // SAFETY: the caller's contract.
        let value = unsafe { required(value, "value") }?;
        headers.headers.push((name.to_string(), value.to_string()));
        Ok(())
    })
}
