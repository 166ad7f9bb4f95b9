//! The peer, static tunnel and server-settings calls of NETunnel's client.
//! Static tunnels are addressed by peer *name*, as in NETunnel 1.0.x.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Client;
use crate::error::{Error, Result};
use crate::transport::Method;
use crate::wire::{Peer, StaticTunnel};

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl Client {
    /// Any REST call to the connected server, the answer as raw JSON, with
    /// NETunnel's error rules (a JSON `error` is a failure whatever the
    /// status; an empty body is `null`). The typed calls below drop fields
    /// they do not know; this keeps everything a server sends, for callers
    /// that must hand it on unchanged (the Python package's dicts).
    pub async fn request_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        self.call(method, path.to_string(), body).await
    }

    async fn call(&self, method: Method, path: String, body: Option<Value>) -> Result<Value> {
        self.inner()?
            .transport
            .request(method, path, body)
            .await?
            .json()
    }

    async fn call_as<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Result<T> {
        let value = self.call(method, path, body).await?;
        serde_json::from_value(value)
            .map_err(|err| Error::Protocol(format!("unexpected answer from the server: {err}")))
    }

    /// `GET /peers`.
    pub async fn list_peers(&self) -> Result<Vec<Peer>> {
        self.call_as(Method::Get, "/peers".into(), None).await
    }

    /// Registers a peer (the server checks it can reach it first).
    pub async fn register_peer(
        &self,
        name: &str,
        target_netunnel_url: &str,
        auth_data: BTreeMap<String, String>,
    ) -> Result<Peer> {
        let body = json!({"name": name, "target_netunnel_url": target_netunnel_url, "auth_data": auth_data});
        self.call_as(Method::Post, "/peers".into(), Some(body))
            .await
    }

    /// Changes a peer's name, URL or authentication data (`None`: unchanged).
    pub async fn update_peer(
        &self,
        peer_id: u64,
        new_name: Option<&str>,
        new_target_netunnel_url: Option<&str>,
        auth_data: Option<BTreeMap<String, String>>,
    ) -> Result<Peer> {
        let mut body = serde_json::Map::new();
        if let Some(name) = new_name {
            body.insert("name".into(), json!(name));
        }
        if let Some(url) = new_target_netunnel_url {
            body.insert("target_netunnel_url".into(), json!(url));
        }
        if let Some(auth_data) = auth_data {
            body.insert("auth_data".into(), json!(auth_data));
        }
        self.call_as(
            Method::Post,
            format!("/peers/{peer_id}"),
            Some(Value::Object(body)),
        )
        .await
    }

    /// `DELETE /peers/{id}`.
    pub async fn delete_peer_by_id(&self, peer_id: u64) -> Result<()> {
        self.call(Method::Delete, format!("/peers/{peer_id}"), Some(json!({})))
            .await
            .map(|_| ())
    }

    /// Deletes the peer called `name`.
    pub async fn delete_peer_by_name(&self, name: &str) -> Result<()> {
        let peer = self.get_peer_by_name(name).await?;
        self.delete_peer_by_id(peer.id).await
    }

    /// `GET /peers/{id}`.
    pub async fn get_peer_by_id(&self, peer_id: u64) -> Result<Peer> {
        self.call_as(Method::Get, format!("/peers/{peer_id}"), None)
            .await
    }

    /// The peer called `name`.
    pub async fn get_peer_by_name(&self, name: &str) -> Result<Peer> {
        let peers: Vec<Peer> = self
            .call_as(Method::Get, format!("/peers?name={}", encode(name)), None)
            .await?;
        peers
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("Peer `{name}` was not found")))
    }

    /// The static tunnels of the peer called `peer_name`.
    pub async fn list_peer_static_tunnels(&self, peer_name: &str) -> Result<Vec<StaticTunnel>> {
        let peer = self.get_peer_by_name(peer_name).await?;
        self.call_as(
            Method::Get,
            format!("/peers/{}/static_tunnels", peer.id),
            None,
        )
        .await
    }

    /// Creates a static tunnel to `tunnel_remote_address:tunnel_remote_port`
    /// on the peer called `peer_name`, listening on the server's 127.0.0.1
    /// (the server's default); returns once it is online.
    pub async fn create_peer_static_tunnel(
        &self,
        peer_name: &str,
        tunnel_remote_port: u16,
        tunnel_remote_address: &str,
    ) -> Result<StaticTunnel> {
        let body = json!({
            "tunnel_remote_address": tunnel_remote_address,
            "tunnel_remote_port": tunnel_remote_port,
        });
        self.post_static_tunnel(peer_name, body).await
    }

    /// [`Client::create_peer_static_tunnel`], listening on the server's
    /// `tunnel_local_address` (an IPv4 or IPv6 address of the server's host;
    /// NETunnel 1.0.x servers take IPv4 only).
    pub async fn create_peer_static_tunnel_at(
        &self,
        peer_name: &str,
        tunnel_remote_port: u16,
        tunnel_remote_address: &str,
        tunnel_local_address: &str,
    ) -> Result<StaticTunnel> {
        let body = json!({
            "tunnel_remote_address": tunnel_remote_address,
            "tunnel_remote_port": tunnel_remote_port,
            "tunnel_local_address": tunnel_local_address,
        });
        self.post_static_tunnel(peer_name, body).await
    }

    async fn post_static_tunnel(&self, peer_name: &str, body: Value) -> Result<StaticTunnel> {
        let peer = self.get_peer_by_name(peer_name).await?;
        self.call_as(
            Method::Post,
            format!("/peers/{}/static_tunnels", peer.id),
            Some(body),
        )
        .await
    }

    /// One static tunnel of the peer called `peer_name`.
    pub async fn get_peer_static_tunnel(
        &self,
        peer_name: &str,
        static_tunnel_id: u64,
    ) -> Result<StaticTunnel> {
        let peer = self.get_peer_by_name(peer_name).await?;
        self.call_as(
            Method::Get,
            format!("/peers/{}/static_tunnels/{static_tunnel_id}", peer.id),
            None,
        )
        .await
    }

    /// Deletes one static tunnel of the peer called `peer_name`.
    pub async fn delete_peer_static_tunnel(
        &self,
        peer_name: &str,
        static_tunnel_id: u64,
    ) -> Result<()> {
        let peer = self.get_peer_by_name(peer_name).await?;
        self.call(
            Method::Delete,
            format!("/peers/{}/static_tunnels/{static_tunnel_id}", peer.id),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    /// `GET /config/http-proxy` (credentials masked).
    pub async fn get_server_default_http_proxy(&self) -> Result<Value> {
        self.call(Method::Get, "/config/http-proxy".into(), None)
            .await
    }

    /// `POST /config/http-proxy`; `proxy_url` `None` removes the proxy.
    pub async fn set_server_default_http_proxy(
        &self,
        proxy_url: Option<&str>,
        username: Option<&str>,
        password: Option<&str>,
        test_url: Option<&str>,
        check_proxy: bool,
    ) -> Result<Value> {
        let body = json!({"proxy_url": proxy_url, "username": username, "password": password,
                          "test_url": test_url, "check_proxy": check_proxy});
        self.call(Method::Post, "/config/http-proxy".into(), Some(body))
            .await
    }

    /// `POST /config/factory-reset`.
    pub async fn factory_reset(&self, disconnect_clients: bool) -> Result<()> {
        let body = json!({"disconnect_clients": disconnect_clients});
        self.call(Method::Post, "/config/factory-reset".into(), Some(body))
            .await
            .map(|_| ())
    }
}
