"""This package beside NETunnel 1.0.13 (from the interop venv): our client
with their server, their client with our server."""

from netunnel.client import NETunnelClient
from netunnel.server.server import NETunnelServer

from conftest import (client_command, echo_through, free_port, interop_python, interrupt, run,
                      server_command, wait_listening)


def test_our_client_with_a_1_0_13_server(echo_port):
    port = free_port()
    with server_command(interop_python(), port):
        async def main():
            async with NETunnelClient(f"http://127.0.0.1:{port}") as client:
                assert await client.get_remote_version() == "1.0.13"
                forward = await client.open_tunnel_to_server("127.0.0.1", echo_port)
                await echo_through(forward.get_entrance_socket())
                # 1.0.13 does not say which port it picked: name one, as its
                # own users do.
                entrance = free_port()
                reverse = await client.open_tunnel_to_client("127.0.0.1", echo_port,
                                                             remote_port=entrance)
                assert reverse.get_entrance_socket() == ("127.0.0.1", entrance)
                wait_listening(entrance)
                await echo_through(reverse.get_entrance_socket())
        run(main())


def test_a_1_0_13_client_with_our_server(echo_port):
    async def main():
        server = NETunnelServer(port=0)
        await server.start()
        client, entrance = await client_command(
            interop_python(), "-s", f"http://127.0.0.1:{server._port}",
            "--remote-port", str(echo_port))
        try:
            await echo_through(entrance)
        finally:
            await interrupt(client)
            await server.stop()
    run(main())
