//! A NETunnel server run from C: options, start, stop.

use std::ffi::{c_char, CString};
use std::time::Duration;

use netunnel_core::{Heartbeat, Server, ServerOptions};

use crate::boundary::{call, query, Failure};
use crate::handle::{borrow, borrow_mut, give, take};
use crate::result::netunnel_result;
use crate::runtime::{block_on, runtime};
use crate::text::{json, kept, owned, put, required};

/// Settings of a server to start: an opaque builder, so that settings added
/// later do not change the ABI. Made by `netunnel_server_options_new`, freed by
/// `netunnel_server_options_free`; not to be used from two threads at once.
pub struct netunnel_server_options {
    pub(crate) options: ServerOptions,
}

/// A running server. Made by `netunnel_server_start`, freed by
/// `netunnel_server_free`; safe to use from any thread.
pub struct netunnel_server {
    server: Server,
    url: CString,
}

/// New server settings with NETunnel's defaults: `127.0.0.1:4040`, no
/// configuration file (stateless), no TLS, no authentication, 20 s heartbeat,
/// `NETUNNEL_*` environment variables read. NULL only when the library's
/// threads cannot be started (the first call starts them; netunnel_last_error()
/// says why).
#[no_mangle]
pub extern "C" fn netunnel_server_options_new() -> *mut netunnel_server_options {
    query(std::ptr::null_mut(), || {
        Ok(give(netunnel_server_options {
            options: ServerOptions::new().runtime(runtime()),
        }))
    })
}

/// Frees server settings. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or from `netunnel_server_options_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_free(options: *mut netunnel_server_options) {
    // SAFETY: the caller's contract.
    drop(unsafe { take(options) });
}

/// Changes one setting of `options` with `change`.
///
/// # Safety
/// `options` is NULL or a live handle.
unsafe fn change(
    options: *mut netunnel_server_options,
    change: impl FnOnce(ServerOptions) -> Result<ServerOptions, Failure>,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let options = unsafe { borrow_mut(options, "options") }?;
        // On failure the settings stay as they were.
        options.options = change(options.options.clone())?;
        Ok(())
    })
}

/// The address to listen on (default `127.0.0.1`).
///
/// # Safety
/// `options` is NULL or a live handle; `host` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_host(
    options: *mut netunnel_server_options,
    host: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            let host = required(host, "host")?;
            Ok(o.host(host))
        })
    }
}

/// The port to listen on; 0 picks a free one (`netunnel_server_port` says
/// which). Default 4040.
///
/// # Safety
/// `options` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_port(
    options: *mut netunnel_server_options,
    port: u16,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe { change(options, |o| Ok(o.port(port))) }
}

/// Keeps settings, peers and static tunnels in this JSON file (created if
/// missing; the same file NETunnel 1.0.x uses). NULL: stateless (default).
///
/// # Safety
/// `options` is NULL or a live handle; `path` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_config_path(
    options: *mut netunnel_server_options,
    path: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            Ok(match crate::text::optional(path, "path")? {
                Some(path) => o.config_path(path),
                None => o.stateless(),
            })
        })
    }
}

/// The key that encrypts secrets in the configuration file (urlsafe base64 of
/// 32 bytes). The library keeps no copy beyond the options and the server.
///
/// # Safety
/// `options` is NULL or a live handle; `key` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_secret_key(
    options: *mut netunnel_server_options,
    key: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            let key = required(key, "key")?;
            Ok(o.secret_key(key))
        })
    }
}

/// Serves HTTPS with this PEM certificate chain and private key (files).
///
/// # Safety
/// `options` is NULL or a live handle; `cert_file` and `key_file` are NULL
/// or C strings.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_tls(
    options: *mut netunnel_server_options,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            let cert = required(cert_file, "cert_file")?;
            let key = required(key_file, "key_file")?;
            Ok(o.tls_files(cert, key))
        })
    }
}

/// Pings idle control channels after `interval_ms` of silence and drops them
/// when half that again passes without an answer (default 20000).
///
/// # Safety
/// `options` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_heartbeat_ms(
    options: *mut netunnel_server_options,
    interval_ms: u64,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            if interval_ms == 0 {
                return Err(Failure::invalid("interval_ms", "must be above 0"));
            }
            Ok(o.heartbeat(Heartbeat::every(Duration::from_millis(interval_ms))))
        })
    }
}

/// Whether `NETUNNEL_*` environment variables supply defaults and the secret
/// key, as with NETunnel 1.0.x (default true).
///
/// # Safety
/// `options` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_environment(
    options: *mut netunnel_server_options,
    read: bool,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe { change(options, |o| Ok(o.environment(read))) }
}

/// Whether `GET /metrics` answers with the Prometheus text of
/// `netunnel_server_metrics` (behind the auth plugin, as every route).
/// Default false: 404.
///
/// # Safety
/// `options` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_metrics(
    options: *mut netunnel_server_options,
    on: bool,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe { change(options, |o| Ok(o.metrics(on))) }
}

/// Authenticates requests with a plugin built into the library: `"none"`, or
/// `"secret"` with `data_json` `{"secret": "..."}` (NETunnel 1.0.x's example
/// plugin, compatible on the wire).
///
/// # Safety
/// `options` is NULL or a live handle; `name` and `data_json` are NULL or C
/// strings.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_options_set_auth_plugin(
    options: *mut netunnel_server_options,
    name: *const c_char,
    data_json: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            let name = required(name, "name")?;
            let data = json(data_json, "data_json")?.unwrap_or_else(|| serde_json::json!({}));
            let plugin = netunnel_core::auth::server_plugin(name, &data)?;
            Ok(o.auth(plugin))
        })
    }
}

/// Starts a server with `options` (which stay the caller's): opens the
/// configuration, listens, restores the static tunnels of configured peers,
/// and returns once all of that is done, with the server in `*server`.
///
/// # Safety
/// `options` is NULL or a live handle; `server` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_start(
    options: *const netunnel_server_options,
    server: *mut *mut netunnel_server,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let options = unsafe { borrow(options, "options") }?.options.clone();
        if server.is_null() {
            return Err(Failure::null("server"));
        }
        let started = block_on(Server::start(options))?;
        let url = kept(&started.url());
        // SAFETY: checked not NULL; writable per the caller's contract.
        unsafe {
            put(
                server,
                "server",
                give(netunnel_server {
                    server: started,
                    url,
                }),
            )
        }
    })
}

/// The port the server listens on (the one picked when 0 was asked); 0 for a
/// NULL server.
///
/// # Safety
/// `server` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_port(server: *const netunnel_server) -> u16 {
    query(0, || {
        // SAFETY: the caller's contract.
        let server = unsafe { borrow(server, "server") }?;
        Ok(server.server.local_addr().port())
    })
}

/// The URL clients reach the server at, e.g. `http://127.0.0.1:4040`. The
/// string belongs to the server (valid until `netunnel_server_free`); NULL for
/// a NULL server.
///
/// # Safety
/// `server` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_url(server: *const netunnel_server) -> *const c_char {
    query(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        let server = unsafe { borrow(server, "server") }?;
        Ok(server.url.as_ptr())
    })
}

/// A snapshot of the server's channels and their tunnels, as JSON
/// (`[{"id": 1, "client_version": "...", "connected": true, "tunnels": [1, 2]}]`), in `*json`,
/// to be freed with `netunnel_string_free`.
///
/// # Safety
/// `server` is NULL or a live handle; `json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_channels(
    server: *const netunnel_server,
    json: *mut *mut c_char,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let server = unsafe { borrow(server, "server") }?;
        let channels: Vec<serde_json::Value> = server
            .server
            .channels()
            .into_iter()
            .map(|channel| {
                serde_json::json!({
                    "id": channel.id,
                    "client_version": channel.client_version,
                    "connected": channel.connected,
                    "tunnels": channel.tunnels,
                })
            })
            .collect();
        let text = serde_json::Value::Array(channels).to_string();
        // SAFETY: the caller's contract.
        unsafe { put(json, "json", owned(text)) }
    })
}

/// What the server carries and has carried (channels, tunnels, connections,
/// bytes each way, refusals and errors by reason), in the Prometheus text
/// format, in `*text`, to be freed with `netunnel_string_free`. Answers
/// whether or not `GET /metrics` is on.
///
/// # Safety
/// `server` is NULL or a live handle; `text` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_metrics(
    server: *const netunnel_server,
    text: *mut *mut c_char,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let server = unsafe { borrow(server, "server") }?;
        if text.is_null() {
            return Err(Failure::null("text"));
        }
        let rendered = server.server.core().metrics().to_prometheus();
        // SAFETY: the caller's contract.
        unsafe { put(text, "text", owned(rendered)) }
    })
}

/// Stops listening, closes every channel (their tunnels with them) and every
/// static tunnel, and returns once they are gone. Stopping a stopped server
/// does nothing and succeeds.
///
/// # Safety
/// `server` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_stop(server: *const netunnel_server) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let server = unsafe { borrow(server, "server") }?;
        block_on(server.server.stop());
        Ok(())
    })
}

/// Stops the server (as `netunnel_server_stop`) and frees it. NULL is a no-op.
///
/// # Safety
/// `server` is NULL or a live handle, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn netunnel_server_free(server: *mut netunnel_server) {
    query((), || {
        // SAFETY: the caller's contract.
        if let Some(server) = unsafe { take(server) } {
            block_on(server.server.stop());
        }
        Ok(())
    })
}

// A server handle is used from any thread.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<netunnel_server>();
};
