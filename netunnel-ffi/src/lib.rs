//! libnetunnel: NETunnel servers and clients inside a C program (or any
//! language with a C FFI), on the same engine as the `netunnel` command.
//!
//! The C API is `include/netunnel.h`, generated from this crate by cbindgen.
//! Conventions, the same on every call:
//! - every fallible call returns a `netunnel_result`; `NETUNNEL_OK` is 0, and
//!   `netunnel_last_error()` has the message of the calling thread's last
//!   failure;
//! - a panic inside the library is caught and returned as `NETUNNEL_PANIC`; a
//!   NULL argument is `NETUNNEL_NULL_ARGUMENT`, never a crash;
//! - handles (`netunnel_server`, `netunnel_client`, `netunnel_tunnel`, and the
//!   options builders) are opaque, made by `_new`/`_start`/`_open_*` and freed
//!   by their `_free`, which takes NULL;
//! - strings handed to the caller are freed with `netunnel_string_free`;
//!   strings a handle keeps (a URL, an address) live as long as the handle;
//! - calls block the calling thread until done and are safe from any thread;
//!   the library runs its network work on threads of its own.

// The C API keeps C naming: `netunnel_server`, not `NetunnelServer`.
#![allow(non_camel_case_types)]

mod auth;
mod boundary;
mod client;
mod handle;
mod logging;
mod peers;
mod result;
mod runtime;
mod server;
mod text;
mod tunnel;
mod version;

pub use auth::*;
pub use boundary::netunnel_last_error;
pub use client::*;
pub use logging::*;
pub use peers::*;
pub use result::netunnel_result;
pub use server::*;
pub use text::netunnel_string_free;
pub use tunnel::*;
pub use version::*;
