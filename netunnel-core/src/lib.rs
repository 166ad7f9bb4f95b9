//! NETunnel in Rust: tunnels of TCP connections over HTTP(S) websockets,
//! wire-compatible with NETunnel 1.0.x.
//!
//! Start with `Server` and `ServerOptions` (feature `async-std`) to run a
//! server, and [`client::Client`] to open tunnels through one; every failure is
//! an [`Error`] with a stable [`ErrorKind`].
//!
//! The crate has two layers. The core is written against `futures` traits and
//! the [`Runtime`] seam only (its internals, the control channel, tunnel ends
//! and byte pump, are private). The frontend, behind the `async-std` feature,
//! provides the async-std runtime, the HTTP server and the HTTP/websocket
//! client transport; `cli` (default) adds the `netunnel` command.

#![warn(unreachable_pub)]

pub mod auth;
mod channel;
pub mod client;
pub mod config;
mod error;
mod http_head;
pub mod instance;
pub mod metrics;
pub mod peer;
pub mod proxy;
mod pump;
// Used through `ws::over`, which only transports (the frontend) call.
#[cfg_attr(not(feature = "async-std"), allow(dead_code))]
mod read_ahead;
pub mod runtime;
pub mod secret;
pub mod server;
mod sync;
pub mod transport;
mod tunnel;
pub mod wire;
mod ws;

#[cfg(feature = "async-std")]
pub mod frontend;

pub use error::{Error, ErrorKind, Result};
pub use runtime::{BoxConn, Conn, Listener, Runtime, RuntimeRef};
pub use ws::Heartbeat;

#[cfg(feature = "async-std")]
pub use frontend::{
    AsyncStdRuntime, HttpConnector, HttpTransport, Server, ServerHandle, ServerOptions,
    TransportOptions,
};

#[cfg(all(test, feature = "smol"))]
mod tests;

/// This implementation's version, reported in `POST /channels` and `GET /version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(all(doctest, feature = "async-std"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExample;
