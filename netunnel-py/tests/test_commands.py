"""`python -m netunnel.server` as 1.0.x users run it, and a script that
exits without closing anything."""

import asyncio
import json
import os
import re
import signal
import subprocess
import textwrap

import pytest

from netunnel.client import NETunnelClient
from netunnel.common.exceptions import NETunnelResponseError
from netunnel.server.server import NETunnelServer

from conftest import echo_through, free_port, run, start_process, this_python, wait_listening


def test_the_server_command_serves_and_stops_on_sigint(echo_port):
    port = free_port()
    server = start_process([this_python(), "-m", "netunnel.server", "-p", str(port)])
    try:
        wait_listening(port, server)

        async def main():
            async with NETunnelClient(f"http://127.0.0.1:{port}") as client:
                tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
                await echo_through(tunnel.get_entrance_socket(), 10_000)
        run(main())
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=10)
    assert server.returncode == 0, output.decode()
    assert b"stateless mode" in output


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
        client = await asyncio.create_subprocess_exec(
            this_python(), "-m", "netunnel.client", "-s", f"http://127.0.0.1:{server._port}",
            "--remote-port", str(echo_port), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            while True:
                line = (await client.stdout.readline()).decode()
                assert line, "the client command exited before opening its tunnel"
                found = re.search(r"Tunnel entrance socket: ([0-9.]+):(\d+)", line)
                if found:
                    break
            await echo_through((found.group(1), int(found.group(2))))
        finally:
            client.send_signal(signal.SIGINT)
            assert await client.wait() == 0
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
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS": json.dumps({"127.0.0.1": str(echo_port)})}
    server = subprocess.Popen([this_python(), "-m", "netunnel.server", "-p", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        wait_listening(port, server)

        async def main():
            async with NETunnelClient(f"http://127.0.0.1:{port}") as client:
                allowed = await client.open_tunnel_to_server("127.0.0.1", echo_port)
                await echo_through(allowed.get_entrance_socket(), 1000)
                with pytest.raises(NETunnelResponseError) as refused:
                    await client.open_tunnel_to_server("127.0.0.1", echo_port + 1)
                assert refused.value.kind == "not_allowed"
        run(main())
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)


def test_a_built_in_plugin_is_named_without_a_dot(echo_port):
    port = free_port()
    server = start_process([this_python(), "-m", "netunnel.server", "-p", str(port),
                            "--auth-plugin", "secret",
                            "--auth-data", json.dumps({"secret": "built-in-secret"})])
    try:
        wait_listening(port, server)

        async def main():
            with pytest.raises(NETunnelResponseError) as anonymous:
                async with NETunnelClient(f"http://127.0.0.1:{port}"):
                    pass
            assert anonymous.value.kind == "unauthorized"
            # Our own client command, with the same built-in plugin.
            client = await asyncio.create_subprocess_exec(
                this_python(), "-m", "netunnel.client", "-s", f"http://127.0.0.1:{port}",
                "--remote-port", str(echo_port), "--auth-plugin", "secret",
                "--auth-data", json.dumps({"secret": "built-in-secret"}),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            try:
                while True:
                    line = (await client.stdout.readline()).decode()
                    assert line, "the client command exited before opening its tunnel"
                    found = re.search(r"Tunnel entrance socket: ([0-9.]+):(\d+)", line)
                    if found:
                        break
                await echo_through((found.group(1), int(found.group(2))), 1000)
            finally:
                client.send_signal(signal.SIGINT)
                await client.wait()
        run(main())
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
