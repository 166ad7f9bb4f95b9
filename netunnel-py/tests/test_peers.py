"""Peers and static tunnels through the Python API, as 1.0.x users drive
them: the REST calls, a static tunnel that carries data and comes back after
its peer restarts, factory reset, and the server's default HTTP proxy."""

import asyncio
import json

import pytest

from netunnel.client import NETunnelClient
from netunnel.common.exceptions import NETunnelError, NETunnelResponseError
from netunnel.server.server import SECRET_STRING, NETunnelServer

from conftest import echo_through, http_service, run, tinyproxy


async def until(check, what, timeout=20.0):
    """Polls the coroutine function ``check`` until it returns true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def carries(address) -> bool:
    try:
        await asyncio.wait_for(echo_through(address, 10_000), 5)
        return True
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        return False


def test_the_peer_and_static_tunnel_calls_and_a_tunnel_that_reconnects(tmp_path, echo_port):
    config = tmp_path / "a.conf"
    # Short retries so the reconnect is quick; the defaults are 10 s and 30 s.
    config.write_text(json.dumps({"static_tunnel_retry_interval": 0.2,
                                  "static_tunnel_health_check_interval": 0.2}))

    async def main():
        peer_server = NETunnelServer(port=0)
        await peer_server.start()
        peer_port = peer_server._port
        peer_url = f"http://127.0.0.1:{peer_port}"
        server = NETunnelServer(config_path=str(config), port=0)
        await server.start()
        async with NETunnelClient(f"http://127.0.0.1:{server._port}") as client:
            assert await client.list_peers() == []
            peer = await client.register_peer("b", peer_url)
            with pytest.raises(NETunnelResponseError):
                await client.register_peer("b", peer_url)
            with pytest.raises(NETunnelResponseError) as missing:
                await client.get_peer_by_id(999)
            assert missing.value.kind == "not_found"
            with pytest.raises(NETunnelError):
                await client.get_peer_by_name("nobody")
            renamed = await client.update_peer(peer["id"], new_name="b2")
            assert (renamed["id"], renamed["name"]) == (peer["id"], "b2")
            # A failed update changes nothing.
            with pytest.raises(NETunnelResponseError):
                await client.update_peer(peer["id"], new_name="b3",
                                         new_target_netunnel_url="http://127.0.0.1:1")
            assert await client.get_peer_by_id(peer["id"]) == renamed

            assert await client.list_peer_static_tunnels("b2") == []
            static = await client.create_peer_static_tunnel("b2", echo_port)
            other = await client.create_peer_static_tunnel("b2", echo_port,
                                                           tunnel_local_address="127.0.0.2")
            assert other["tunnel_local_address"] == "127.0.0.2"
            assert len(await client.list_peer_static_tunnels("b2")) == 2
            await client.delete_peer_static_tunnel("b2", other["id"])
            assert await client.list_peer_static_tunnels("b2") == [static]
            assert await client.get_peer_static_tunnel("b2", static["id"]) == static
            entrance = (static["tunnel_local_address"], static["tunnel_local_port"])
            await until(lambda: carries(entrance), "the static tunnel to carry data")

            # The peer goes away and comes back on its port: the tunnel follows.
            await peer_server.stop()
            await until(lambda: _not(carries(entrance)), "the tunnel to notice")
            peer_server = NETunnelServer(port=peer_port)
            await peer_server.start()
            await until(lambda: carries(entrance), "the static tunnel to reconnect")

            assert [p["name"] for p in json.loads(config.read_text())["peers"]] == ["b2"]
            await client.delete_peer_by_name("b2")
            assert await client.list_peers() == []
        await server.stop()
        await peer_server.stop()
    run(main(), timeout=120)


async def _not(awaitable) -> bool:
    return not await awaitable


def test_factory_reset_and_the_servers_default_proxy(tmp_path):
    config = tmp_path / "a.conf"
    config.write_text(json.dumps({"allowed_tunnel_destinations": {"127.0.0.1": "22"}}))

    async def main():
        server = NETunnelServer(config_path=str(config), port=0)
        await server.start()
        url = f"http://127.0.0.1:{server._port}"
        async with NETunnelClient(url) as client:
            await client.register_peer("self", url)
            with http_service() as test_url, tinyproxy(tmp_path, ("user", "s3cretpass")) as proxy:
                await client.set_server_default_http_proxy(proxy, "user", "s3cretpass",
                                                           test_url=test_url)
                shown = await client.get_server_default_http_proxy()
                assert shown["proxy_url"] == proxy
                assert shown["username"] == shown["password"] == SECRET_STRING
                assert "s3cretpass" not in config.read_text()
                with pytest.raises(NETunnelResponseError):
                    await client.set_server_default_http_proxy(proxy, "user", "wrong",
                                                               test_url=test_url)
            await client.factory_reset()
            assert await client.list_peers() == []
            assert json.loads(config.read_text())["http_proxy"] is None
            assert json.loads(config.read_text())["allowed_tunnel_destinations"] == \
                {"127.0.0.1": "*"}
        await server.stop()
    run(main())
