//! Flags shared by the commands that connect to a server: URL, HTTP proxy, TLS.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use netunnel_core::config::ProxySettings;
use netunnel_core::frontend::TlsOptions;
use netunnel_core::{HttpTransport, RuntimeRef, TransportOptions};

/// How to reach the server.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// URL of the NETunnel server (http:// or https://, with an optional path prefix).
    #[arg(short, long, default_value = "http://127.0.0.1:4040", global = true)]
    pub server: String,
    /// HTTP proxy to reach the server through (default: HTTPS_PROXY / HTTP_PROXY,
    /// honouring NO_PROXY).
    #[arg(long, global = true)]
    proxy_url: Option<String>,
    /// Proxy user (Basic auth); needs a password too.
    #[arg(long, global = true)]
    proxy_username: Option<String>,
    /// Proxy password; NETUNNEL_PROXY_PASSWORD keeps it out of `ps`.
    #[arg(long, global = true)]
    proxy_password: Option<String>,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, global = true)]
    ca_cert: Option<PathBuf>,
    /// Do not verify the server's certificate.
    #[arg(long, global = true)]
    no_ssl_validate: bool,
    /// Seconds to wait for each answer of the server (a REST exchange or a
    /// websocket handshake, connecting included) before giving up.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "NETUNNEL_REQUEST_TIMEOUT",
        default_value = "30",
        value_parser = crate::heartbeat_args::parse_interval,
        global = true
    )]
    request_timeout: std::time::Duration,
    #[command(flatten)]
    auth: crate::auth_args::AuthArgs,
}

/// Whether `host` is excluded from proxying by a `NO_PROXY` list.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let entry = entry.trim_start_matches('.');
            entry == "*" || host == entry || host.ends_with(&format!(".{entry}"))
        })
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .filter(|value| !value.is_empty())
}

impl ConnectArgs {
    /// The proxy to use, from the flags or the environment.
    fn proxy(&self) -> anyhow::Result<Option<ProxySettings>> {
        let password = self
            .proxy_password
            .clone()
            .or_else(|| env(&["NETUNNEL_PROXY_PASSWORD"]));
        match (&self.proxy_username, &password) {
            (Some(_), None) => bail!(
                "--proxy-username needs a password (--proxy-password or NETUNNEL_PROXY_PASSWORD)"
            ),
            (None, Some(_)) if self.proxy_password.is_some() => {
                bail!("--proxy-password needs --proxy-username")
            }
            _ => {}
        }
        let url = match &self.proxy_url {
            Some(url) => Some(url.clone()),
            None => {
                let server = url::Url::parse(&self.server).ok();
                let host = server
                    .as_ref()
                    .and_then(|u| u.host_str())
                    .unwrap_or_default()
                    .to_string();
                let excluded = env(&["NO_PROXY", "no_proxy"])
                    .is_some_and(|list| no_proxy_matches(&list, &host));
                let https = server.as_ref().is_some_and(|u| u.scheme() == "https");
                let names: &[&str] = if https {
                    &["HTTPS_PROXY", "https_proxy"]
                } else {
                    &["HTTP_PROXY", "http_proxy"]
                };
                if excluded {
                    None
                } else {
                    env(names)
                }
            }
        };
        if url.is_none() && self.proxy_username.is_some() {
            bail!("--proxy-username needs --proxy-url");
        }
        Ok(url.map(|url| ProxySettings {
            url,
            username: self.proxy_username.clone(),
            password: self.proxy_username.as_ref().and(password),
        }))
    }

    /// A transport to the server with these options.
    pub fn transport(&self, rt: RuntimeRef) -> anyhow::Result<Arc<HttpTransport>> {
        let options = TransportOptions {
            proxy: self.proxy()?,
            tls: TlsOptions {
                ca_cert: self.ca_cert.clone(),
                insecure: self.no_ssl_validate,
            },
            auth: self.auth.client()?,
        };
        if let Some(proxy) = &options.proxy {
            log::debug!(
                "reaching {} through the proxy {}",
                self.server,
                netunnel_core::proxy::redact_url(&proxy.url)
            );
        }
        Ok(Arc::new(
            HttpTransport::with_options(rt, &self.server, options)?
                .with_request_timeout(self.request_timeout),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::no_proxy_matches;

    #[test]
    fn no_proxy_lists() {
        assert!(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
        assert!(no_proxy_matches(".example.com", "api.example.com"));
        assert!(no_proxy_matches("example.com", "api.example.com"));
        assert!(no_proxy_matches("*", "anything"));
        assert!(!no_proxy_matches("example.com", "example.org"));
        assert!(!no_proxy_matches("", "example.org"));
    }
}
