//! The async-std frontend: runtime, HTTP server and HTTP/websocket client.

mod http_client;
mod http_server;
mod runtime;

pub use http_client::HttpTransport;
pub use http_server::ServerHandle;
pub use runtime::AsyncStdRuntime;
