//! A NETunnel client run from C: options, connect, close.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::frontend::TlsOptions;
use netunnel_core::proxy::ProxySettings;
use netunnel_core::{Heartbeat, HttpTransport, TransportOptions};

use crate::boundary::{call, query, Failure};
use crate::handle::{borrow, borrow_mut, give, take};
use crate::result::netunnel_result;
use crate::runtime::{block_on, runtime};
use crate::text::{json, optional, owned, put, required};

/// How a client reaches its server: an opaque builder (proxy, certificate
/// checks, authentication, heartbeat). Made by `netunnel_client_options_new`,
/// freed by `netunnel_client_options_free`; not to be used from two threads
/// at once.
pub struct netunnel_client_options {
    pub(crate) transport: TransportOptions,
    settings: ClientSettings,
}

/// A client of one server. Made by `netunnel_client_new`, freed by
/// `netunnel_client_free`; safe to use from any thread, by several at once.
pub struct netunnel_client {
    pub(crate) client: Client,
}

/// New client settings: no proxy, certificates checked against the system's
/// roots, no authentication, 20 s heartbeat. NULL only if the library panics
/// (netunnel_last_error() says why).
#[no_mangle]
pub extern "C" fn netunnel_client_options_new() -> *mut netunnel_client_options {
    query(std::ptr::null_mut(), || {
        Ok(give(netunnel_client_options {
            transport: TransportOptions::default(),
            settings: ClientSettings::default(),
        }))
    })
}

/// Frees client settings. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or from `netunnel_client_options_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_options_free(options: *mut netunnel_client_options) {
    // SAFETY: the caller's contract.
    drop(unsafe { take(options) });
}

/// Changes `options` with `change`.
///
/// # Safety
/// `options` is NULL or a live handle.
unsafe fn change(
    options: *mut netunnel_client_options,
    change: impl FnOnce(&mut netunnel_client_options) -> Result<(), Failure>,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let options = unsafe { borrow_mut(options, "options") }?;
        change(options)
    })
}

/// Reaches the server through the HTTP proxy at `proxy_url`
/// (`http://host:port`), with Basic credentials when `username` and
/// `password` are given (both or neither). A NULL `proxy_url` removes it.
///
/// # Safety
/// `options` is NULL or a live handle; the strings are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_options_set_proxy(
    options: *mut netunnel_client_options,
    proxy_url: *const c_char,
    username: *const c_char,
    password: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            let url = optional(proxy_url, "proxy_url")?;
            let username = optional(username, "username")?;
            let password = optional(password, "password")?;
            if username.is_some() != password.is_some() {
                return Err(Failure::invalid(
                    "username",
                    "a proxy user and password go together",
                ));
            }
            o.transport.proxy = url.map(|url| ProxySettings {
                url: url.to_string(),
                username: username.map(str::to_string),
                password: password.map(str::to_string),
            });
            Ok(())
        })
    }
}

/// Also trusts the certificates in this PEM file when the server URL is
/// `https://` (NULL: the system's roots only).
///
/// # Safety
/// `options` is NULL or a live handle; `ca_file` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_options_set_ca_file(
    options: *mut netunnel_client_options,
    ca_file: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            o.transport.tls.ca_cert = optional(ca_file, "ca_file")?.map(Into::into);
            Ok(())
        })
    }
}

/// Skips the server certificate's verification entirely (for tests; anyone
/// on the path can then read and change the traffic).
///
/// # Safety
/// `options` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_options_set_skip_verification(
    options: *mut netunnel_client_options,
    skip: bool,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            o.transport.tls = TlsOptions {
                insecure: skip,
                ..o.transport.tls.clone()
            };
            Ok(())
        })
    }
}

/// Pings the client's idle websockets after `interval_ms` of silence (0: never).
/// Default 20000, as NETunnel 1.0.x.
///
/// # Safety
/// `options` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_options_set_heartbeat_ms(
    options: *mut netunnel_client_options,
    interval_ms: u64,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            o.settings.heartbeat =
                (interval_ms > 0).then(|| Heartbeat::every(Duration::from_millis(interval_ms)));
            Ok(())
        })
    }
}

/// Authenticates with a plugin built into the library: `"none"`, or
/// `"secret"` with `data_json` `{"secret": "..."}`.
///
/// # Safety
/// `options` is NULL or a live handle; `name` and `data_json` are NULL or C
/// strings.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_options_set_auth_plugin(
    options: *mut netunnel_client_options,
    name: *const c_char,
    data_json: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        change(options, |o| {
            let name = required(name, "name")?;
            let data = json(data_json, "data_json")?.unwrap_or_else(|| serde_json::json!({}));
            o.transport.auth = Some(netunnel_core::auth::client_plugin(name, &data)?);
            Ok(())
        })
    }
}

/// A client of the server at `server_url` (`http://` or `https://`, with an
/// optional path prefix), not connected yet, in `*client`. `options` may be
/// NULL (the defaults) and stays the caller's. A URL that cannot be used is
/// `NETUNNEL_CONFIG`.
///
/// # Safety
/// `server_url` is NULL or a C string; `options` is NULL or a live handle;
/// `client` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_new(
    server_url: *const c_char,
    options: *const netunnel_client_options,
    client: *mut *mut netunnel_client,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let url = unsafe { required(server_url, "server_url") }?;
        // SAFETY: the caller's contract.
        let options = unsafe { options.as_ref() };
        let (transport, settings) = match options {
            Some(o) => (o.transport.clone(), o.settings.clone()),
            None => (TransportOptions::default(), ClientSettings::default()),
        };
        if client.is_null() {
            return Err(Failure::null("client"));
        }
        let rt = runtime();
        let transport = HttpTransport::with_options(rt.clone(), url, transport)?;
        let made = Client::new(rt, Arc::new(transport), settings);
        // SAFETY: checked not NULL; writable per the caller's contract.
        unsafe { put(client, "client", give(netunnel_client { client: made })) }
    })
}

/// Runs `work` with the client behind `client`.
///
/// # Safety
/// `client` is NULL or a live handle.
pub(crate) unsafe fn with_client(
    client: *const netunnel_client,
    work: impl FnOnce(&Client) -> Result<(), Failure>,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { borrow(client, "client") }?;
        work(&client.client)
    })
}

/// Creates a channel on the server and connects its control websocket.
/// Already connected: does nothing. After `netunnel_client_close`, or after
/// the server dropped the channel, connects anew.
///
/// # Safety
/// `client` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_connect(
    client: *const netunnel_client,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe { with_client(client, |c| Ok(block_on(c.connect())?)) }
}

/// Closes every tunnel of the client (deleting each on the server, bounded
/// in time), then its channel. Not connected: does nothing and succeeds. A
/// connect under way on another thread is cut short.
///
/// # Safety
/// `client` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_close(client: *const netunnel_client) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            block_on(c.close());
            Ok(())
        })
    }
}

/// Whether the client's control channel is up; false for NULL.
///
/// # Safety
/// `client` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_is_connected(client: *const netunnel_client) -> bool {
    query(false, || {
        // SAFETY: the caller's contract.
        Ok(unsafe { borrow(client, "client") }?.client.is_connected())
    })
}

/// The server's version (`GET /version`) in `*version`, to be freed with
/// `netunnel_string_free`.
///
/// # Safety
/// `client` is NULL or a live handle; `version` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_remote_version(
    client: *const netunnel_client,
    version: *mut *mut c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            if version.is_null() {
                return Err(Failure::null("version"));
            }
            let text = block_on(c.remote_version())?;
            put(version, "version", owned(text))
        })
    }
}

/// What this client's tunnels carry and have carried (connections, bytes
/// each way, errors by reason, per open tunnel and in total), in the
/// Prometheus text format, in `*text`, to be freed with
/// `netunnel_string_free`.
///
/// # Safety
/// `client` is NULL or a live handle; `text` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_metrics(
    client: *const netunnel_client,
    text: *mut *mut c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            if text.is_null() {
                return Err(Failure::null("text"));
            }
            put(text, "text", owned(c.metrics().to_prometheus()))
        })
    }
}

/// Closes the client (as `netunnel_client_close`) and frees it. Its tunnel
/// handles stay valid, stopped, until freed. NULL is a no-op.
///
/// # Safety
/// `client` is NULL or a live handle, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_free(client: *mut netunnel_client) {
    query((), || {
        // SAFETY: the caller's contract.
        if let Some(client) = unsafe { take(client) } {
            block_on(client.client.close());
        }
        Ok(())
    })
}
