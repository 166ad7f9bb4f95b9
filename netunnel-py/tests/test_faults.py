"""An end that dies under a Python user: the server killed outright while a
client and its tunnel are open. The client learns of it and raises the
package's exceptions; nothing hangs."""

import asyncio
import subprocess

import pytest

from netunnel.client import NETunnelClient
from netunnel.common.exceptions import NETunnelError, NETunnelNotConnectedError

from conftest import free_port, run, this_python, wait_listening


def test_a_killed_server_makes_the_client_raise(echo_port):
    port = free_port()
    server = subprocess.Popen([this_python(), "-m", "netunnel.server", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, server)

        async def main():
            client = NETunnelClient(f"http://127.0.0.1:{port}")
            await client.connect()
            tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            host, entrance = tunnel.get_entrance_socket()
            server.kill()
            server.wait(timeout=10)
            # A connection to the dead tunnel is refused (the client closed
            # its entrance) or, if it comes in first, ends at once: with end
            # of file, or with a reset when it is closed with our `ping`
            # unread (the kernel's answer to unread data).
            try:
                reader, writer = await asyncio.open_connection(host, entrance)
            except ConnectionRefusedError:
                pass
            else:
                writer.write(b"ping")
                try:
                    assert await asyncio.wait_for(reader.read(), 10) == b""
                except ConnectionResetError:
                    pass
                writer.close()
            # The client knows it lost its server: opening is refused.
            with pytest.raises(NETunnelNotConnectedError) as raised:
                await asyncio.wait_for(
                    client.open_tunnel_to_server("127.0.0.1", echo_port), 10)
            assert raised.value.kind == "channel_closed"
            # Connecting again fails as the server is gone.
            with pytest.raises(NETunnelError) as raised:
                await asyncio.wait_for(client.connect(), 30)
            assert raised.value.kind == "connection", raised.value
            await client.close()

        run(main())
    finally:
        server.kill()
        server.wait(timeout=10)
