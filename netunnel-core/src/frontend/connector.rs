//! [`Connector`] over [`HttpTransport`]: how a server reaches its peers.

use std::sync::Arc;

use crate::error::Result;
use crate::peer::{Connector, PeerLink};
use crate::runtime::RuntimeRef;
use crate::transport::Transport;

use super::tls::TlsOptions;
use super::{HttpTransport, TransportOptions};

/// Opens HTTP transports to peers, through the global proxy when one is set.
#[derive(Clone)]
pub struct HttpConnector {
    rt: RuntimeRef,
}

impl std::fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpConnector")
    }
}

impl HttpConnector {
    /// A connector on `rt`.
    pub fn new(rt: RuntimeRef) -> Arc<HttpConnector> {
        Arc::new(HttpConnector { rt })
    }
}

impl Connector for HttpConnector {
    fn transport(&self, link: &PeerLink) -> Result<Arc<dyn Transport>> {
        let options = TransportOptions {
            proxy: link.proxy.clone(),
            tls: TlsOptions {
                ca_cert: None,
                insecure: link.allow_unverified_ssl,
            },
            auth: Some(Arc::clone(&link.auth)),
        };
        let transport = HttpTransport::with_options(Arc::clone(&self.rt), &link.url, options)?;
        Ok(Arc::new(transport))
    }
}
