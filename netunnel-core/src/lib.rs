//! NETunnel in Rust: tunnels of TCP connections over HTTP(S) websockets,
//! wire-compatible with NETunnel 1.0.x.
//!
//! The crate has two layers. The core (`wire`, `channel`, `tunnel`, `pump`,
//! `server`, `client`) is written against `futures` traits and the [`Runtime`]
//! seam only. The frontend, behind the default `async-std` feature, provides the
//! async-std runtime, the HTTP server and the HTTP/websocket client transport.

pub mod auth;
pub mod channel;
pub mod client;
pub mod config;
mod error;
pub mod peer;
pub mod proxy;
pub mod pump;
pub mod read_ahead;
pub mod runtime;
pub mod secret;
pub mod server;
pub mod sync;
pub mod transport;
pub mod tunnel;
pub mod wire;
pub mod ws;

#[cfg(feature = "async-std")]
pub mod frontend;

pub use error::{Error, ErrorKind, Result};
pub use runtime::{BoxConn, Conn, Listener, Runtime, RuntimeRef};

#[cfg(feature = "async-std")]
pub use frontend::{
    AsyncStdRuntime, HttpConnector, HttpTransport, Server, ServerHandle, ServerOptions,
    TransportOptions,
};

/// This implementation's version, reported in `POST /channels` and `GET /version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(all(doctest, feature = "async-std"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExample;
