"""Authentication plugins written in Python, run by the Rust server and
client: the JWT-style pair of token_plugins.py, a wrong secret, no plugin,
and a peer whose plugin the server makes from its stored auth_data."""

import asyncio

import pytest

from netunnel.client import NETunnelClient
from netunnel.common.auth import NETunnelServerAuth
from netunnel.common.exceptions import NETunnelError, NETunnelResponseError
from netunnel.server.server import NETunnelServer

from conftest import echo_through, run
from token_plugins import TokenClientAuth, TokenServerAuth


def test_a_jwt_style_plugin_pair_lets_the_right_secret_in(echo_port):
    async def main():
        server_auth = TokenServerAuth(secret="s3cret-s3cret-s3cret-s3cret-s3cret")
        server = NETunnelServer(port=0, auth_server=server_auth)
        await server.start()
        url = f"http://127.0.0.1:{server._port}"
        client_auth = TokenClientAuth(secret="s3cret-s3cret-s3cret-s3cret-s3cret")
        async with NETunnelClient(url, auth_client=client_auth) as client:
            tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            await echo_through(tunnel.get_entrance_socket())
        assert client_auth.seen_urls and client_auth.seen_urls[0] == url
        assert "127.0.0.1" in server_auth.remotes

        with pytest.raises(NETunnelError) as wrong:
            async with NETunnelClient(url, auth_client=TokenClientAuth(secret="guess-guess-guess-guess-guess-guess")):
                pass
        assert wrong.value.kind == "plugin"
        assert "403" in str(wrong.value)

        with pytest.raises(NETunnelResponseError) as anonymous:
            async with NETunnelClient(url):
                pass
        assert anonymous.value.kind == "unauthorized"
        await server.stop()
    run(main())


def test_a_peer_gets_its_plugin_from_the_server_plugin(tmp_path, echo_port):
    async def main():
        far = NETunnelServer(port=0, auth_server=TokenServerAuth(secret="far-secret-far-secret-far-secret-far"))
        await far.start()
        near = NETunnelServer(port=0, config_path=str(tmp_path / "near.conf"),
                              auth_server=TokenServerAuth(secret="near-secret-near-secret-near-secret-n"))
        await near.start()
        near_url = f"http://127.0.0.1:{near._port}"
        async with NETunnelClient(near_url, auth_client=TokenClientAuth("near-secret-near-secret-near-secret-n")) as admin:
            # auth_data the plugin's get_client_for_peer does not take, or
            # the wrong secret: refused with an answer, no peer kept.
            far_url = f"http://127.0.0.1:{far._port}"
            with pytest.raises(NETunnelResponseError) as missing:
                await admin.register_peer("far", far_url)
            assert missing.value.kind == "bad_request" and "TypeError" in str(missing.value)
            with pytest.raises(NETunnelResponseError):
                await admin.register_peer("far", far_url, {"secret": "guess-guess-guess-guess-guess-guess"})
            assert await admin.list_peers() == []
            peer_auth = TokenClientAuth("far-secret-far-secret-far-secret-far").dump_object()
            await admin.register_peer("far", f"http://127.0.0.1:{far._port}", peer_auth)
            static = await admin.create_peer_static_tunnel("far", echo_port)
            await echo_through(("127.0.0.1", static["tunnel_local_port"]))
        await near.stop()
        await far.stop()
    run(main())


class _NeverAnswers(NETunnelServerAuth):
    """A plugin stuck on something that never comes; counts its calls and
    the calls that were cancelled."""

    def __init__(self):
        self.calls = 0
        self.cancelled = 0

    async def is_authenticated(self, request):
        self.calls += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def authenticate(self, request):
        await asyncio.Event().wait()

    async def get_client_for_peer(self, **auth_data):
        raise NotImplementedError


def test_a_plugin_call_that_never_finishes_is_cut_off(monkeypatch):
    # The default limit is 60 s; shrunk here.
    monkeypatch.setenv("NETUNNEL_PLUGIN_TIMEOUT", "0.3")

    async def main():
        plugin = _NeverAnswers()
        server = NETunnelServer(port=0, auth_server=plugin)
        await server.start()
        url = f"http://127.0.0.1:{server._port}"
        for attempt in range(1, 3):
            started = asyncio.get_running_loop().time()
            with pytest.raises(NETunnelResponseError) as refused:
                async with NETunnelClient(url):
                    pass
            took = asyncio.get_running_loop().time() - started
            assert refused.value.kind == "unauthorized"
            assert 0.3 <= took < 10, took
            # The plugin was asked, and its stuck coroutine was cancelled.
            assert plugin.calls == attempt
            assert plugin.cancelled == attempt
        await server.stop()
    run(main())


def test_no_secret_or_token_reaches_python_logging_at_any_level(echo_port):
    import logging

    class Kept(logging.Handler):
        def __init__(self):
            super().__init__(1)
            self.messages = []

        def emit(self, record):
            self.messages.append(f"{record.name} {record.getMessage()}")

    kept = Kept()
    root = logging.getLogger()
    level = root.level
    root.addHandler(kept)
    # Level 1: every record the engine forwards to Python (it forwards down
    # to debug).
    root.setLevel(1)
    secret = "logged-secret-logged-secret-logged-secret"

    async def main():
        server = NETunnelServer(port=0, auth_server=TokenServerAuth(secret=secret))
        await server.start()
        client_auth = TokenClientAuth(secret=secret)
        async with NETunnelClient(f"http://127.0.0.1:{server._port}",
                                  auth_client=client_auth) as client:
            tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            await echo_through(tunnel.get_entrance_socket(), 10_000)
        await server.stop()
        return client_auth._token

    try:
        token = run(main())
    finally:
        root.removeHandler(kept)
        root.setLevel(level)
    assert token and any(m.startswith("netunnel") for m in kept.messages), kept.messages[:5]
    for message in kept.messages:
        assert secret not in message and token not in message, message
