"""``NETunnelClient``: NETunnel 1.0.x's client API on the Rust engine."""

import json
import logging
import weakref
from typing import Any, Dict, List, Optional

from . import _native
from .common.exceptions import NETunnelNotConnectedError
from .common.tunnel import Tunnel, of as _tunnel_of


class NETunnelClient:
    """A client of the NETunnel server at ``server_url``. Use ``async with``
    (or ``await connect()`` and ``await close()``); reusable after close."""

    def __init__(self, server_url, logger=None, proxy_url=None, proxy_username=None,
                 proxy_password=None, auth_client=None, ssl=None):
        self.server_url = server_url
        self._auth_client = auth_client
        self._logger = logger or logging.getLogger(__name__)
        # Given a logger, the engine's records of this client go to it too.
        self._user_logger = logger
        self._ssl = ssl
        self._proxy = (None, None, None)
        self._native = None
        # Whether the native client's settings are older than ours.
        self._stale = True
        self._ca_file = None
        self.set_client_proxy(proxy_url, proxy_username, proxy_password)

    def _tls_settings(self):
        """(ca_file, insecure) from 1.0.x's ``ssl`` argument: None (the
        system's roots), False (no verification) or an ``ssl.SSLContext``,
        whose verification mode and CA certificates are carried over."""
        if self._ssl is None:
            return None, False
        if self._ssl is False:
            return None, True
        context = self._ssl
        import ssl as ssl_module
        if context.verify_mode == ssl_module.CERT_NONE:
            return None, True
        if not context.check_hostname:
            self._logger.warning("the SSLContext's check_hostname=False cannot be carried over: "
                                 "the server's name is checked")
        if self._ca_file is not None:
            return self._ca_file, False
        certificates = context.get_ca_certs(binary_form=True)
        if not certificates:
            return None, False
        import atexit
        import os
        import tempfile
        pem = "".join(ssl_module.DER_cert_to_PEM_cert(der) for der in certificates)
        handle = tempfile.NamedTemporaryFile("w", prefix="netunnel-ca-", suffix=".pem",
                                             delete=False)
        with handle:
            handle.write(pem)
        self._ca_file = handle.name
        # Written once per client, removed at exit.
        atexit.register(lambda name=handle.name: os.path.exists(name) and os.unlink(name))
        return handle.name, False

    def _make_native(self):
        # With a plugin, the native client is made in connect(), on the loop
        # the plugin's coroutines will run on.
        ca_file, insecure = self._tls_settings()
        self._native = _native.Client(self.server_url, self._proxy[0], self._proxy[1],
                                      self._proxy[2], ca_file, insecure, self._auth_client,
                                      weakref.proxy(self), self._user_logger)
        self._stale = False

    def set_client_proxy(self, proxy_url, proxy_username=None, proxy_password=None):
        """Reaches the server through ``proxy_url``: at once when not
        connected, from the next connect otherwise. Credentials are used only
        when both are given (as 1.0.x)."""
        if (proxy_username is None) != (proxy_password is None):
            self._logger.warning("a proxy username and password go together: ignoring them")
            proxy_username = proxy_password = None
        self._proxy = (proxy_url, proxy_username, proxy_password)
        self._stale = True
        if self._auth_client is None and not self.connected:
            self._make_native()

    @property
    def auth_client(self):
        return self._auth_client

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
        if self._auth_client is not None or self._stale:
            self._make_native()
        await self._native.connect()

    async def close(self):
        """Closes the tunnels and the channel."""
        self._logger.debug("Closing NETunnel client to `%s`", self.server_url)
        if self._native is not None:
            await self._native.close()

    def metrics(self) -> str:
        """What this client's tunnels carry and have carried, in the
        Prometheus text format. Empty while no engine client exists (a client
        with an auth plugin before its first ``connect()``); the counts start
        again whenever ``connect()`` makes a new one (with an auth plugin, or
        after ``set_client_proxy``)."""
        if self._native is None:
            return ""
        return self._native.metrics()

    async def get_remote_version(self) -> str:
        if self._native is None:
            self._make_native()
        return await self._native.remote_version()

    def _ensure_connected(self):
        if not self.connected:
            error = NETunnelNotConnectedError(
                "Client is not connected. Please use `async with NETunnelClient(...):` "
                "to avoid this exception")
            error.kind = "channel_closed"
            raise error

    async def open_tunnel_to_server(self, remote_address, remote_port, local_address="127.0.0.1",
                                    local_port=None, wait_ready=True) -> Tunnel:
        """A tunnel from here (``local_address:local_port``, any free port by
        default) to ``remote_address:remote_port`` as the server sees it.
        It is ready when returned, whatever ``wait_ready`` says."""
        self._ensure_connected()
        native = await self._native.open_tunnel_to_server(local_address, local_port,
                                                          remote_address, remote_port)
        return _tunnel_of(native)

    async def open_tunnel_to_client(self, local_address, local_port, remote_address="127.0.0.1",
                                    remote_port=None) -> Tunnel:
        """A tunnel from the server (``remote_address:remote_port``) to
        ``local_address:local_port`` here."""
        self._ensure_connected()
        native = await self._native.open_tunnel_to_client(local_address, local_port,
                                                          remote_address, remote_port)
        return _tunnel_of(native)

    async def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        if self._native is None:
            self._make_native()
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
        if new_name:
            body["name"] = new_name
        if new_target_netunnel_url:
            body["target_netunnel_url"] = new_target_netunnel_url
        if auth_data:
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
            error = _native.NETunnelResponseError(f"Peer `{name}` was not found")
            error.kind = "not_found"
            raise error
        return peers[0]

    async def delete_peer_by_name(self, name):
        peer = await self.get_peer_by_name(name)
        return await self.delete_peer_by_id(peer["id"])

    async def list_peer_static_tunnels(self, peer_name):
        peer = await self.get_peer_by_name(peer_name)
        return await self._call("GET", f"/peers/{peer['id']}/static_tunnels")

    async def create_peer_static_tunnel(self, peer_name, tunnel_remote_port,
                                        tunnel_remote_address="127.0.0.1", *,
                                        tunnel_local_address=None):
        """As 1.0.x; beyond it, ``tunnel_local_address`` is where the tunnel
        listens on the server's host (default 127.0.0.1; IPv4 or IPv6)."""
        peer = await self.get_peer_by_name(peer_name)
        body = {"tunnel_remote_address": tunnel_remote_address,
                "tunnel_remote_port": tunnel_remote_port}
        if tunnel_local_address is not None:
            body["tunnel_local_address"] = tunnel_local_address
        return await self._call("POST", f"/peers/{peer['id']}/static_tunnels", body)

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


def _socket_text(host, port):
    """host:port, with an IPv6 host in brackets so the port stays readable."""
    if ":" in host and not host.startswith("["):
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def get_args(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description="Run a netunnel client")
    parser.add_argument("-d", "--debug", help="Increase log verbosity to debug mode",
                        dest="loglevel", action="store_const", const=logging.DEBUG,
                        default=logging.INFO)
    parser.add_argument("-s", "--server", help="Address of the NETunnel Server to connect",
                        default="http://127.0.0.1:4040")
    parser.add_argument("--local-address", help="Local address to listen/connect to",
                        default="127.0.0.1")
    parser.add_argument("--local-port", type=int,
                        help="Local port to listen/connect to. Defaults to random. "
                             "Mandatory for reverse tunnel")
    parser.add_argument("--remote-address", help="Remote address to listen/connect to",
                        default="127.0.0.1")
    parser.add_argument("--remote-port", type=int, default=22,
                        help="Remote port to listen/connect to")
    parser.add_argument("-r", "--reverse", action="store_true",
                        help="Reverse the tunnel: the remote socket is the entrance")
    parser.add_argument("--auth-plugin", help="Plugin to use for authentication "
                                              "(<module_path>.<auth_class_name>)")
    parser.add_argument("--auth-data", default="{}",
                        help="A json dump string of the data required by the plugin")
    parser.add_argument("--no-ssl-validate", action="store_true",
                        help="Do not validate the certificate of the server")
    parser.add_argument("--proxy-url", help="URL to a proxy server between the client and "
                                            "the server")
    parser.add_argument("--proxy-username", help="Username for the proxy")
    parser.add_argument("--proxy-password", help="Password for the proxy")
    parser.add_argument("--metrics-port", type=int,
                        help="Answer GET /metrics (the tunnel's, in the Prometheus text "
                             "format) on this local port (0: any free port)")
    parser.add_argument("--metrics-address", default="127.0.0.1",
                        help="Address the metrics port listens on")
    return parser.parse_args(argv)


async def main(argv=None):
    """``python -m netunnel.client``: NETunnel 1.0.x's command line."""
    import importlib
    args = get_args(argv)
    logging.basicConfig(level=args.loglevel, format="%(asctime)s %(levelname)s %(message)s")
    auth_client = None
    if args.auth_plugin and "." not in args.auth_plugin:
        # A name without a dot: a plugin built into the engine ("secret").
        auth_client = _native.BuiltinClientAuth(args.auth_plugin, args.auth_data)
    elif args.auth_plugin:
        module, class_name = args.auth_plugin.rsplit(".", maxsplit=1)
        auth_client = getattr(importlib.import_module(module), class_name)(
            **json.loads(args.auth_data))
    ssl = False if args.no_ssl_validate else None
    async with NETunnelClient(server_url=args.server, proxy_url=args.proxy_url,
                              proxy_username=args.proxy_username,
                              proxy_password=args.proxy_password,
                              logger=logging.getLogger("netunnel_client"),
                              auth_client=auth_client, ssl=ssl) as client:
        if args.reverse:
            if args.local_port is None:
                raise ValueError("--local-port is required for reverse tunnel")
            print("Opening tunnel to the client...", flush=True)
            tunnel = await client.open_tunnel_to_client(local_address=args.local_address,
                                                        local_port=args.local_port,
                                                        remote_address=args.remote_address,
                                                        remote_port=args.remote_port)
        else:
            print("Opening tunnel to the server...", flush=True)
            tunnel = await client.open_tunnel_to_server(local_address=args.local_address,
                                                        local_port=args.local_port,
                                                        remote_address=args.remote_address,
                                                        remote_port=args.remote_port)
        print("Tunnel entrance socket: %s" % _socket_text(*tunnel.get_entrance_socket()), flush=True)
        print("Tunnel exit socket: %s" % _socket_text(*tunnel.get_exit_socket()), flush=True)
        if args.metrics_port is None:
            await tunnel.join()
            return
        from .common.metrics import serve_metrics
        endpoint = await serve_metrics(client.metrics, args.metrics_address, args.metrics_port)
        host, port = endpoint.sockets[0].getsockname()[:2]
        print("Metrics: http://%s/metrics" % _socket_text(host, port), flush=True)
        try:
            await tunnel.join()
        finally:
            endpoint.close()


if __name__ == "__main__":
    import asyncio
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
