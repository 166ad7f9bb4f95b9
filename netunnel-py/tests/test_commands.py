"""`python -m netunnel.server` as 1.0.x users run it, and a script that
exits without closing anything."""

import json
import subprocess
import textwrap

import pytest

from netunnel.client import NETunnelClient
from netunnel.common.exceptions import NETunnelResponseError
from netunnel.server.server import NETunnelServer

from conftest import (client_command, echo_through, free_port, interrupt, run, server_command,
                      this_python)


def test_the_server_command_serves_and_stops_on_sigint(echo_port):
    port = free_port()
    with server_command(this_python(), port) as server:
        async def main():
            async with NETunnelClient(f"http://127.0.0.1:{port}") as client:
                tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
                await echo_through(tunnel.get_entrance_socket(), 10_000)
        run(main())
    assert server.returncode == 0, server.output.decode()
    assert b"stateless mode" in server.output


SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from netunnel.client import NETunnelClient
    from netunnel.server.server import NETunnelServer

    async def main():
        server = NETunnelServer(port=0)
        await server.start()
        client = NETunnelClient(f"http://127.0.0.1:{server._port}")
        await client.connect()
        tunnel = await client.open_tunnel_to_server("127.0.0.1", int(sys.argv[1]))
        print("open", tunnel.get_entrance_socket(), flush=True)
        # Exits with the server, the client and the tunnel all still open.

    asyncio.run(main())
""")


def test_a_script_that_exits_without_closing_anything_exits_cleanly(echo_port):
    runs = 50
    for attempt in range(runs):
        done = subprocess.run([this_python(), "-c", SCRIPT, str(echo_port)],
                              capture_output=True, timeout=30)
        assert done.returncode == 0, (attempt, done.returncode, done.stderr.decode())
        assert b"open" in done.stdout, (attempt, done.stdout.decode(), done.stderr.decode())


def test_the_client_command_opens_a_tunnel_as_1_0_x_did(echo_port):
    async def main():
        server = NETunnelServer(port=0)
        await server.start()
        client, entrance = await client_command(
            this_python(), "-s", f"http://127.0.0.1:{server._port}",
            "--remote-port", str(echo_port))
        try:
            await echo_through(entrance)
        finally:
            assert await interrupt(client) == 0
            await server.stop()
    run(main())


def test_importing_the_package_takes_under_50_ms():
    measure = ("import time; started = time.perf_counter(); "
               "import netunnel.client, netunnel.server.server; "
               "print((time.perf_counter() - started) * 1000)")
    # The best of five: the machine's other work only ever adds.
    times = [float(subprocess.run([this_python(), "-c", measure], capture_output=True,
                                  check=True, timeout=30).stdout) for _ in range(5)]
    assert min(times) < 50, times


def test_the_stubs_match_the_engine_and_the_package_type_checks(tmp_path):
    # From a directory of its own, so the installed package is what is checked.
    for command in (["-m", "mypy.stubtest", "netunnel._native"],
                    ["-m", "mypy", "--no-incremental", "-p", "netunnel"]):
        checked = subprocess.run([this_python(), *command], capture_output=True, cwd=tmp_path,
                                 timeout=300)
        assert checked.returncode == 0, (command, checked.stdout.decode(), checked.stderr.decode())


def test_environment_overrides_reach_the_server_command(echo_port):
    port = free_port()
    allowed = {"NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS": json.dumps({"127.0.0.1": str(echo_port)})}
    with server_command(this_python(), port, env=allowed):
        async def main():
            async with NETunnelClient(f"http://127.0.0.1:{port}") as client:
                tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
                await echo_through(tunnel.get_entrance_socket(), 1000)
                with pytest.raises(NETunnelResponseError) as refused:
                    await client.open_tunnel_to_server("127.0.0.1", echo_port + 1)
                assert refused.value.kind == "not_allowed"
        run(main())


def test_a_built_in_plugin_is_named_without_a_dot(echo_port):
    port = free_port()
    secret = json.dumps({"secret": "built-in-secret"})
    with server_command(this_python(), port, "--auth-plugin", "secret", "--auth-data", secret):
        async def main():
            with pytest.raises(NETunnelResponseError) as anonymous:
                async with NETunnelClient(f"http://127.0.0.1:{port}"):
                    pass
            assert anonymous.value.kind == "unauthorized"
            # Our own client command, with the same built-in plugin.
            client, entrance = await client_command(
                this_python(), "-s", f"http://127.0.0.1:{port}", "--remote-port", str(echo_port),
                "--auth-plugin", "secret", "--auth-data", secret)
            try:
                await echo_through(entrance, 1000)
            finally:
                await interrupt(client)
        run(main())
