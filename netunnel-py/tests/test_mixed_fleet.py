"""This package beside NETunnel 1.0.13 (from the interop venv): our client
with their server, their client with our server."""

import asyncio
import re
import signal

from netunnel.client import NETunnelClient
from netunnel.server.server import NETunnelServer

from conftest import (echo_through, free_port, interop_python, run, start_process,
                      wait_listening)


def test_our_client_with_a_1_0_13_server(echo_port):
    port = free_port()
    server = start_process([interop_python(), "-m", "netunnel.server", "-p", str(port)])
    try:
        wait_listening(port, server)

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
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(10)


def test_a_1_0_13_client_with_our_server(echo_port):
    async def main():
        server = NETunnelServer(port=0)
        await server.start()
        client = await asyncio.create_subprocess_exec(
            interop_python(), "-m", "netunnel.client", "-s", f"http://127.0.0.1:{server._port}",
            "--remote-port", str(echo_port), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            while True:
                line = (await client.stdout.readline()).decode()
                assert line, "the 1.0.13 client exited before opening its tunnel"
                found = re.search(r"Tunnel entrance socket: ([0-9.]+):(\d+)", line)
                if found:
                    break
            await echo_through((found.group(1), int(found.group(2))))
        finally:
            client.send_signal(signal.SIGINT)
            await client.wait()
            await server.stop()
    run(main())
