//! Tunnels opened from C: forward (client to server) and reverse (server to
//! client), their ends, and stopping them.

use std::ffi::{c_char, CString};

use netunnel_core::client::Tunnel;

use crate::boundary::{call, query, Failure};
use crate::client::{netunnel_client, with_client};
use crate::handle::{borrow, give, take};
use crate::result::netunnel_result;
use crate::runtime::block_on;
use crate::text::{kept, optional, put, required};

/// An open tunnel. Made by `netunnel_client_open_forward` or
/// `netunnel_client_open_reverse`, freed by `netunnel_tunnel_free`; safe to
/// use from any thread.
pub struct netunnel_tunnel {
    tunnel: Tunnel,
    entrance_address: CString,
    exit_address: CString,
}

impl netunnel_tunnel {
    fn new(tunnel: Tunnel) -> netunnel_tunnel {
        let info = tunnel.info();
        netunnel_tunnel {
            entrance_address: kept(&info.entrance.0),
            exit_address: kept(&info.exit.0),
            tunnel,
        }
    }
}

/// Opens a forward tunnel: listens here on `local_address:local_port`
/// (NULL: `127.0.0.1`; port 0: any free port) and carries each connection to
/// `remote_address:remote_port` as the server sees it. Returns once the
/// tunnel is ready to carry connections, with it in `*tunnel`.
///
/// # Safety
/// `client` is NULL or a live handle; the strings are NULL or C strings;
/// `tunnel` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_open_forward(
    client: *const netunnel_client,
    local_address: *const c_char,
    local_port: u16,
    remote_address: *const c_char,
    remote_port: u16,
    tunnel: *mut *mut netunnel_tunnel,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            let local = optional(local_address, "local_address")?.unwrap_or("127.0.0.1");
            let remote = required(remote_address, "remote_address")?;
            if tunnel.is_null() {
                return Err(Failure::null("tunnel"));
            }
            if remote_port == 0 {
                return Err(Failure::invalid("remote_port", "must be above 0"));
            }
            let opened =
                block_on(c.open_tunnel_to_server(local, Some(local_port), remote, remote_port))?;
            put(tunnel, "tunnel", give(netunnel_tunnel::new(opened)))
        })
    }
}

/// Opens a reverse tunnel: the server listens on `remote_address:remote_port`
/// (NULL: `127.0.0.1`; port 0: one the server picks) and carries each
/// connection to `local_address:local_port` here. Returns once the server
/// listens, with the tunnel in `*tunnel`.
///
/// # Safety
/// `client` is NULL or a live handle; the strings are NULL or C strings;
/// `tunnel` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn netunnel_client_open_reverse(
    client: *const netunnel_client,
    local_address: *const c_char,
    local_port: u16,
    remote_address: *const c_char,
    remote_port: u16,
    tunnel: *mut *mut netunnel_tunnel,
) -> netunnel_result {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        with_client(client, |c| {
            let local = required(local_address, "local_address")?;
            let remote = optional(remote_address, "remote_address")?.unwrap_or("127.0.0.1");
            if tunnel.is_null() {
                return Err(Failure::null("tunnel"));
            }
            if local_port == 0 {
                return Err(Failure::invalid("local_port", "must be above 0"));
            }
            let port = (remote_port != 0).then_some(remote_port);
            let opened = block_on(c.open_tunnel_to_client(local, local_port, remote, port))?;
            put(tunnel, "tunnel", give(netunnel_tunnel::new(opened)))
        })
    }
}

/// Reads one property of a tunnel; `fallback` for NULL.
///
/// # Safety
/// `tunnel` is NULL or a live handle.
unsafe fn read<T>(
    tunnel: *const netunnel_tunnel,
    fallback: T,
    property: impl FnOnce(&netunnel_tunnel) -> T,
) -> T {
    query(fallback, || {
        // SAFETY: the caller's contract.
        let tunnel = unsafe { borrow(tunnel, "tunnel") }?;
        Ok(property(tunnel))
    })
}

/// The tunnel's id on its channel; 0 for NULL.
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_id(tunnel: *const netunnel_tunnel) -> u64 {
    // SAFETY: the caller's contract, passed on.
    unsafe { read(tunnel, 0, |t| t.tunnel.info().id) }
}

/// Whether connections enter on the server (a reverse tunnel).
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_is_reverse(tunnel: *const netunnel_tunnel) -> bool {
    // SAFETY: the caller's contract, passed on.
    unsafe { read(tunnel, false, |t| t.tunnel.info().reverse) }
}

/// The address connections enter at (here for a forward tunnel, on the
/// server for a reverse one). Belongs to the tunnel handle; NULL for NULL.
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_entrance_address(
    tunnel: *const netunnel_tunnel,
) -> *const c_char {
    // SAFETY: the caller's contract, passed on.
    unsafe { read(tunnel, std::ptr::null(), |t| t.entrance_address.as_ptr()) }
}

/// The port connections enter at (the one picked when 0 was asked); 0 for NULL.
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_entrance_port(tunnel: *const netunnel_tunnel) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe { read(tunnel, 0, |t| t.tunnel.info().entrance.1) }
}

/// The address connections are carried to. Belongs to the tunnel handle;
/// NULL for NULL.
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_exit_address(
    tunnel: *const netunnel_tunnel,
) -> *const c_char {
    // SAFETY: the caller's contract, passed on.
    unsafe { read(tunnel, std::ptr::null(), |t| t.exit_address.as_ptr()) }
}

/// The port connections are carried to; 0 for NULL.
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_exit_port(tunnel: *const netunnel_tunnel) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe { read(tunnel, 0, |t| t.tunnel.info().exit.1) }
}

/// Whether the tunnel still carries connections (false once stopped, or once
/// its client's channel ended); false for NULL.
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_is_running(tunnel: *const netunnel_tunnel) -> bool {
    // SAFETY: the caller's contract, passed on.
    unsafe { read(tunnel, false, |t| !t.tunnel.is_stopped()) }
}

/// Stops the tunnel here and deletes it on the server. With `force`, its
/// open connections close at once; without, it takes no new connection and
/// returns once the open ones have ended, however long they last. Stopping a
/// stopped tunnel does nothing and succeeds (as NETunnel 1.0.x's `stop()`).
///
/// # Safety
/// `tunnel` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_stop(
    tunnel: *const netunnel_tunnel,
    force: bool,
) -> netunnel_result {
    call(|| {
        // SAFETY: the caller's contract.
        let tunnel = unsafe { borrow(tunnel, "tunnel") }?;
        if force {
            block_on(tunnel.tunnel.close())?;
        } else {
            block_on(tunnel.tunnel.drain())?;
        }
        Ok(())
    })
}

/// Stops the tunnel (forced, as `netunnel_tunnel_stop(tunnel, true)`) if it
/// is still running, and frees the handle. NULL is a no-op.
///
/// # Safety
/// `tunnel` is NULL or a live handle, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn netunnel_tunnel_free(tunnel: *mut netunnel_tunnel) {
    query((), || {
        // SAFETY: the caller's contract.
        if let Some(tunnel) = unsafe { take(tunnel) } {
            if !tunnel.tunnel.is_stopped() {
                let _ = block_on(tunnel.tunnel.close());
            }
        }
        Ok(())
    })
}
