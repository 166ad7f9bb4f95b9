//! `GET`/`POST /config/http-proxy` and `POST /config/factory-reset`.

use serde_json::{json, Value};

use super::ServerCore;
use crate::config::{ProxySettings, MASK};
use crate::error::{Error, Result};
use crate::instance::{record, TARGET_SERVER};
use crate::wire::{HttpProxyRequest, HttpProxyView};

impl ServerCore {
    /// The global proxy as `GET /config/http-proxy` shows it (`None` when
    /// unset): credentials as `******`, a password inside the URL masked too.
    pub fn http_proxy_view(&self) -> Option<HttpProxyView> {
        let Some(Value::Object(proxy)) = self.store.get("http_proxy") else {
            return None;
        };
        let Some(Value::String(url)) = proxy.get("proxy_url") else {
            return None;
        };
        let masked = |field: &str| match proxy.get(field) {
            Some(Value::String(v)) if !v.is_empty() => Some(MASK.to_string()),
            _ => None,
        };
        Some(HttpProxyView {
            proxy_url: crate::proxy::redact_url(url),
            username: masked("username"),
            password: masked("password"),
        })
    }

    /// `POST /config/http-proxy`: verifies (unless `check_proxy` is false) and
    /// stores the proxy, credentials encrypted. Nothing changes on failure.
    pub async fn set_http_proxy(&self, request: HttpProxyRequest) -> Result<Option<HttpProxyView>> {
        let stored = match request.proxy_url {
            None => Value::Null,
            Some(url) => {
                let proxy = ProxySettings {
                    url: url.clone(),
                    username: request.username.clone(),
                    password: request.password.clone(),
                };
                if request.check_proxy {
                    let test_url = match request.test_url {
                        Some(test_url) => test_url,
                        None => match self.store.get("http_proxy_test_url") {
                            Some(Value::String(test_url)) => test_url,
                            _ => return Err(Error::BadRequest("missing `test_url`".into())),
                        },
                    };
                    crate::proxy::check(&*self.rt, &proxy, &test_url).await?;
                }
                let seal = |value: Option<String>| -> Result<Value> {
                    match value {
                        Some(text) => Ok(json!(self.store.encrypt(&text)?)),
                        None => Ok(Value::Null),
                    }
                };
                json!({"proxy_url": url, "username": seal(request.username)?, "password": seal(request.password)?})
            }
        };
        self.store
            .update_unblocked(&*self.rt, |values, _| {
                values.insert("http_proxy".into(), stored)
            })
            .await?;
        record!(
            info,
            TARGET_SERVER,
            "default HTTP proxy set to {}",
            HttpProxyView::to_json(self.http_proxy_view().as_ref())
        );
        match self.peers.restart_all().await {
            // Stored, and the server stopping meanwhile: its static tunnels
            // are stopped anyway, and the change did land.
            Err(err) if err.kind() == crate::ErrorKind::NotAllowed => {}
            other => other?,
        }
        Ok(self.http_proxy_view())
    }

    /// `POST /config/factory-reset`: the configuration goes back to the
    /// defaults; with `disconnect_clients`, every channel is closed too.
    pub async fn factory_reset(&self, disconnect_clients: bool) -> Result<()> {
        self.peers.stop_all().await;
        self.store.reset_unblocked(&*self.rt).await?;
        record!(warn, TARGET_SERVER, "configuration reset to the defaults");
        if disconnect_clients {
            self.close_all();
        }
        Ok(())
    }
}
