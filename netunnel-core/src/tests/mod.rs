//! In-process tests of the core's internals (channel, tunnel ends, the states
//! of a tunnel websocket), on smol (the crate's `SmolRuntime`) and, with the
//! frontend, on async-std too. Unit tests, since those internals are private.

mod counting;
mod idle_websockets;
mod in_process;
mod tunnels;
