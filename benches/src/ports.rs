//! Free TCP ports, for programs that cannot listen on port 0.

use std::net::TcpListener;

use anyhow::{Context, Result};

/// A port on 127.0.0.1 that was free a moment ago (the usual race applies).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}
