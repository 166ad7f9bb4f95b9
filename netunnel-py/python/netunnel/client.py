"""``NETunnelClient``: NETunnel 1.0.x's client API on the Rust engine."""

import json
import logging
from typing import Any, Dict, List, Optional

from . import _native
from .common.exceptions import NETunnelNotConnectedError
from .common.tunnel import Tunnel


class NETunnelClient:
    """A client of the NETunnel server at ``server_url``. Use ``async with``
    (or ``await connect()`` and ``await close()``); reusable after close."""

    def __init__(self, server_url, logger=None, proxy_url=None, proxy_username=None,
                 proxy_password=None, auth_client=None, ssl=None):
        if auth_client is not None:
            raise NotImplementedError(
                "authentication plugins written in Python are not supported yet by this package")
        self.server_url = server_url
        self._logger = logger or logging.getLogger(__name__)
        self._ssl = ssl
        self._proxy = (None, None, None)
        self._native = None
        self.set_client_proxy(proxy_url, proxy_username, proxy_password)

    def _make_native(self):
        insecure = self._ssl is False
        self._native = _native.Client(self.server_url, self._proxy[0], self._proxy[1],
                                      self._proxy[2], None, insecure)

    def set_client_proxy(self, proxy_url, proxy_username=None, proxy_password=None):
        """Reaches the server through ``proxy_url`` from the next connect."""
        if self.connected:
            raise RuntimeError("close the client before changing its proxy")
        if (proxy_username is None) != (proxy_password is None):
            raise ValueError("proxy_username and proxy_password go together")
        self._proxy = (proxy_url, proxy_username, proxy_password)
        self._make_native()

    @property
    def connected(self) -> bool:
        return self._native is not None and self._native.connected

    @property
    def ssl(self):
        return self._ssl

    async def connect(self):
        """Creates the control channel with the server."""
        if self.connected:
            raise RuntimeError(f"Client already connected to {self.server_url}")
        self._logger.debug("Connecting to `%s`", self.server_url)
        await self._native.connect()

    async def close(self):
        """Closes the tunnels and the channel."""
        self._logger.debug("Closing NETunnel client to `%s`", self.server_url)
        await self._native.close()

    async def get_remote_version(self) -> str:
        return await self._native.remote_version()

    def _ensure_connected(self):
        if not self.connected:
            raise NETunnelNotConnectedError(
                "Client is not connected. Please use `async with NETunnelClient(...):` "
                "to avoid this exception")

    async def open_tunnel_to_server(self, remote_address, remote_port, local_address="127.0.0.1",
                                    local_port=None, wait_ready=True) -> Tunnel:
        """A tunnel from here (``local_address:local_port``, any free port by
        default) to ``remote_address:remote_port`` as the server sees it.
        It is ready when returned, whatever ``wait_ready`` says."""
        self._ensure_connected()
        native = await self._native.open_tunnel_to_server(local_address, local_port,
                                                          remote_address, remote_port)
        return Tunnel(native)

    async def open_tunnel_to_client(self, local_address, local_port, remote_address="127.0.0.1",
                                    remote_port=None) -> Tunnel:
        """A tunnel from the server (``remote_address:remote_port``) to
        ``local_address:local_port`` here."""
        self._ensure_connected()
        native = await self._native.open_tunnel_to_client(local_address, local_port,
                                                          remote_address, remote_port)
        return Tunnel(native)

    async def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        text = await self._native.request(method, path, None if body is None else json.dumps(body))
        return json.loads(text)

    async def factory_reset(self, disconnect_clients=False):
        return await self._call("POST", "/config/factory-reset",
                                {"disconnect_clients": disconnect_clients})

    async def list_peers(self) -> List[Any]:
        return await self._call("GET", "/peers")

    async def register_peer(self, name, target_netunnel_url, auth_data=None):
        return await self._call("POST", "/peers", {"name": name,
                                                   "target_netunnel_url": target_netunnel_url,
                                                   "auth_data": auth_data or {}})

    async def update_peer(self, peer_id, new_name=None, new_target_netunnel_url=None,
                          auth_data=None):
        body = {}
        if new_name is not None:
            body["name"] = new_name
        if new_target_netunnel_url is not None:
            body["target_netunnel_url"] = new_target_netunnel_url
        if auth_data is not None:
            body["auth_data"] = auth_data
        return await self._call("POST", f"/peers/{peer_id}", body)

    async def delete_peer_by_id(self, peer_id):
        return await self._call("DELETE", f"/peers/{peer_id}", {})

    async def get_peer_by_id(self, peer_id) -> Dict[str, Any]:
        return await self._call("GET", f"/peers/{peer_id}")

    async def get_peer_by_name(self, name) -> Dict[str, Any]:
        from urllib.parse import quote
        peers = await self._call("GET", f"/peers?name={quote(name)}")
        if not peers:
            raise _native.NETunnelResponseError(f"Peer `{name}` was not found")
        return peers[0]

    async def delete_peer_by_name(self, name):
        peer = await self.get_peer_by_name(name)
        return await self.delete_peer_by_id(peer["id"])

    async def list_peer_static_tunnels(self, peer_name):
        peer = await self.get_peer_by_name(peer_name)
        return await self._call("GET", f"/peers/{peer['id']}/static_tunnels")

    async def create_peer_static_tunnel(self, peer_name, tunnel_remote_port,
                                        tunnel_remote_address="127.0.0.1"):
        peer = await self.get_peer_by_name(peer_name)
        return await self._call("POST", f"/peers/{peer['id']}/static_tunnels",
                                {"tunnel_remote_address": tunnel_remote_address,
                                 "tunnel_remote_port": tunnel_remote_port})

    async def get_peer_static_tunnel(self, peer_name, static_tunnel_id):
        peer = await self.get_peer_by_name(peer_name)
        return await self._call("GET", f"/peers/{peer['id']}/static_tunnels/{static_tunnel_id}")

    async def delete_peer_static_tunnel(self, peer_name, static_tunnel_id):
        peer = await self.get_peer_by_name(peer_name)
        return await self._call("DELETE",
                                f"/peers/{peer['id']}/static_tunnels/{static_tunnel_id}", {})

    async def get_server_default_http_proxy(self):
        return await self._call("GET", "/config/http-proxy")

    async def set_server_default_http_proxy(self, proxy_url, username=None, password=None,
                                            test_url=None, check_proxy=True):
        return await self._call("POST", "/config/http-proxy",
                                {"proxy_url": proxy_url, "username": username,
                                 "password": password, "test_url": test_url,
                                 "check_proxy": check_proxy})

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        await self.close()
