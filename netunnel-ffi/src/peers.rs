//! The server-management calls from C: peers, static tunnels, and any REST
//! call, with JSON results the caller frees with `netunnel_string_free`.

use std::collections::BTreeMap;
use std::ffi::c_char;

use netunnel_core::client::Client;

use crate::boundary::Failure;
use crate::client::{netunnel_client, with_client};
use crate::result::netunnel_result;
use crate::runtime::block_on;
use crate::text::{json as parse_json, owned, put, required};

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|err| Failure::invalid("result", err))
}

/// Runs `work`, whose JSON answer goes to `*out`.
///
/// # Safety
/// `client` is NULL or a live handle; `out` is NULL or writable.
unsafe fn answer(
    client: *const netunnel_client,
    out: *mut *mut c_char,
    work: impl FnOnce(&Client) -> Result<String, Failure>,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            if out.is_null() {
                return Err(Failure::null("json"));
            }
            let text = work(c)?;
            put(out, "json", owned(text))
        })
    }
}

/// Any REST call of the server, as NETunnel 1.0.x makes them: `method` is
/// `"GET"`, `"POST"` or `"DELETE"`, `path` starts with `/` (e.g. `/peers`),
/// `body_json` may be NULL. The answer's JSON, unknown fields included, goes
/// to `*json`; an answer with an `error` key is a failure.
///
/// # Safety
/// `client` is NULL or a live handle; the strings are NULL or C strings;
/// `json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_request(
    client: *const netunnel_client,
    method: *const c_char,
    path: *const c_char,
    body_json: *const c_char,
    json: *mut *mut c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        answer(client, json, |c| {
            let method = crate::text::method(method, "method")?;
            let path = required(path, "path")?;
            if !path.starts_with('/') {
                return Err(Failure::invalid("path", "must start with `/`"));
            }
            let body = parse_json(body_json, "body_json")?;
            let value = block_on(c.request_json(method, path, body))?;
            to_json(&value)
        })
    }
}

/// The server's peers, as a JSON list (auth data masked).
///
/// # Safety
/// As `netunnel_client_request`.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_list_peers(
    client: *const netunnel_client,
    json: *mut *mut c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe { answer(client, json, |c| to_json(&block_on(c.list_peers())?)) }
}

/// Registers a peer (another NETunnel server) called `name` at `target_url`;
/// `auth_data_json` is a JSON object of strings for the server's auth plugin,
/// or NULL. The new peer's JSON goes to `*json`.
///
/// # Safety
/// As `netunnel_client_request`.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_register_peer(
    client: *const netunnel_client,
    name: *const c_char,
    target_url: *const c_char,
    auth_data_json: *const c_char,
    json: *mut *mut c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        answer(client, json, |c| {
            let name = required(name, "name")?;
            let url = required(target_url, "target_url")?;
            let auth_data: BTreeMap<String, String> =
                match parse_json(auth_data_json, "auth_data_json")? {
                    None => BTreeMap::new(),
                    Some(value) => serde_json::from_value(value).map_err(|_| {
                        Failure::invalid("auth_data_json", "must be an object of strings")
                    })?,
                };
            to_json(&block_on(c.register_peer(name, url, auth_data))?)
        })
    }
}

/// Deletes the peer called `name`, and its static tunnels.
///
/// # Safety
/// `client` is NULL or a live handle; `name` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_delete_peer(
    client: *const netunnel_client,
    name: *const c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            let name = required(name, "name")?;
            Ok(block_on(c.delete_peer_by_name(name))?)
        })
    }
}

/// The static tunnels to the peer called `peer_name`, as a JSON list.
///
/// # Safety
/// As `netunnel_client_request`.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_list_static_tunnels(
    client: *const netunnel_client,
    peer_name: *const c_char,
    json: *mut *mut c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        answer(client, json, |c| {
            let peer = required(peer_name, "peer_name")?;
            to_json(&block_on(c.list_peer_static_tunnels(peer))?)
        })
    }
}

/// Creates a static tunnel: the server listens on a port of its own and
/// carries each connection, through the peer called `peer_name`, to
/// `remote_address:remote_port` as that peer sees it. Returns once the tunnel
/// is up; its JSON (with `tunnel_local_port`) goes to `*json`.
///
/// # Safety
/// As `netunnel_client_request`.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_create_static_tunnel(
    client: *const netunnel_client,
    peer_name: *const c_char,
    remote_address: *const c_char,
    remote_port: u16,
    json: *mut *mut c_char,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        answer(client, json, |c| {
            let peer = required(peer_name, "peer_name")?;
            let address = required(remote_address, "remote_address")?;
            to_json(&block_on(c.create_peer_static_tunnel(
                peer,
                remote_port,
                address,
            ))?)
        })
    }
}

/// Deletes static tunnel `id` of the peer called `peer_name`.
///
/// # Safety
/// `client` is NULL or a live handle; `peer_name` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_delete_static_tunnel(
    client: *const netunnel_client,
    peer_name: *const c_char,
    id: u64,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            let peer = required(peer_name, "peer_name")?;
            Ok(block_on(c.delete_peer_static_tunnel(peer, id))?)
        })
    }
}
