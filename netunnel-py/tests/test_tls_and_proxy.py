"""HTTPS and HTTP proxies from Python: a server that serves TLS itself (an
extension of 1.0.x's API), clients that pass 1.0.x's ``ssl`` values, and a
client that reaches its server through a real HTTP proxy."""

import ssl

import pytest

from netunnel.client import NETunnelClient
from netunnel.common.exceptions import NETunnelError
from netunnel.server.server import NETunnelServer

from conftest import echo_through, free_port, run, server_command, this_python, tinyproxy


async def tunnel_works(client, echo_port):
    async with client:
        tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
        await echo_through(tunnel.get_entrance_socket(), 100_000)


def test_a_tls_server_and_the_ssl_values_1_0_x_clients_pass(pki, echo_port):
    ca, cert, key = pki

    async def main():
        server = NETunnelServer(port=0, tls_cert=cert, tls_key=key)
        await server.start()
        url = f"https://localhost:{server._port}"
        await tunnel_works(NETunnelClient(url, ssl=ssl.create_default_context(cafile=ca)),
                           echo_port)
        await tunnel_works(NETunnelClient(url, ssl=False), echo_port)
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        await tunnel_works(NETunnelClient(url, ssl=unverified), echo_port)
        # The system's roots do not know the test CA.
        with pytest.raises(NETunnelError) as unknown:
            await NETunnelClient(url).connect()
        assert unknown.value.kind == "connection"
        # Plain HTTP to an HTTPS port is refused, not hung.
        with pytest.raises(NETunnelError):
            await NETunnelClient(f"http://localhost:{server._port}").connect()
        await server.stop()
    run(main())
    with pytest.raises(ValueError):
        NETunnelServer(tls_cert=cert)


def test_the_server_command_serves_tls(pki, echo_port):
    ca, cert, key = pki
    port = free_port()
    with server_command(this_python(), port, "--tls-cert", cert, "--tls-key", key):
        run(tunnel_works(NETunnelClient(f"https://127.0.0.1:{port}",
                                        ssl=ssl.create_default_context(cafile=ca)), echo_port))


def test_a_client_reaches_its_server_through_a_real_proxy(tmp_path, echo_port):
    async def main():
        server = NETunnelServer(port=0)
        await server.start()
        url = f"http://127.0.0.1:{server._port}"
        with tinyproxy(tmp_path, ("user", "s3cretpass")) as proxy:
            await tunnel_works(NETunnelClient(url, proxy_url=proxy, proxy_username="user",
                                              proxy_password="s3cretpass"), echo_port)
            refused = NETunnelClient(url, proxy_url=proxy, proxy_username="user",
                                     proxy_password="badpass1")
            with pytest.raises(NETunnelError) as wrong:
                await refused.connect()
            assert "badpass1" not in str(wrong.value) and "s3cretpass" not in str(wrong.value)
            # set_client_proxy before the next connect is what that connect uses.
            refused.set_client_proxy(proxy, "user", "s3cretpass")
            await tunnel_works(refused, echo_port)
        log = "".join(path.read_text() for path in tmp_path.glob("tinyproxy-*.log"))
        assert f"127.0.0.1:{server._port}" in log, "the tunnel did not use the proxy"
        await server.stop()
    run(main())
