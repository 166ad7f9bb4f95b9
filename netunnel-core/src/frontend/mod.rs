//! The async-std frontend: runtime, HTTP server and HTTP/websocket client.

mod auth_routes;
mod connector;
mod http_client;
mod http_server;
mod metrics_endpoint;
mod peer_routes;
mod request_head;
mod server;
mod tls;
mod ws_client;

pub use crate::runtime::AsyncStdRuntime;
pub use connector::HttpConnector;
pub use http_client::{HttpTransport, TransportOptions};
pub use http_server::ServerHandle;
pub use metrics_endpoint::{MetricsEndpoint, MetricsSource};
pub use server::{Server, ServerOptions};
pub use tls::TlsOptions;
