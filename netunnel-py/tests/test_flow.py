"""The flows NETunnel 1.0.x users run, through this package's client and
server: forward and reverse tunnels, client reuse, versions, errors."""

import asyncio
import json

import pytest

import netunnel
from netunnel.client import NETunnelClient
from netunnel.common.exceptions import (NETunnelError, NETunnelNotConnectedError,
                                        NETunnelResponseError)
from netunnel.server.server import NETunnelServer

from conftest import echo_through, run


async def started(**kwargs) -> NETunnelServer:
    server = NETunnelServer(port=0, **kwargs)
    await server.start()
    assert server._port != 0
    return server


def test_forward_and_reverse_tunnels_carry_every_byte(echo_port):
    async def main():
        server = await started()
        async with NETunnelClient(f"http://127.0.0.1:{server._port}") as client:
            forward = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            assert forward.get_exit_socket() == ("127.0.0.1", echo_port)
            assert forward.get_remote_socket() == forward.get_exit_socket()
            assert forward.get_local_socket() == forward.get_entrance_socket()
            await echo_through(forward.get_entrance_socket())
            reverse = await client.open_tunnel_to_client("127.0.0.1", echo_port)
            assert reverse.get_local_socket() == ("127.0.0.1", echo_port)
            await echo_through(reverse.get_entrance_socket())
            assert await forward.health_check()
            assert forward.running and reverse.running
        assert not forward.running and not reverse.running
        await server.stop()
    run(main())


def test_a_client_is_reused_across_two_async_with(echo_port):
    async def main():
        server = await started()
        client = NETunnelClient(f"http://127.0.0.1:{server._port}")
        assert not client.connected
        for _ in range(2):
            async with client:
                assert client.connected
                assert await client.get_remote_version() == netunnel.__version__
                tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
                await echo_through(tunnel.get_entrance_socket(), 10_000)
            assert not client.connected
        await server.stop()
    run(main())


def test_stops_are_idempotent_and_can_stay_local(echo_port):
    async def main():
        server = await started()
        async with NETunnelClient(f"http://127.0.0.1:{server._port}") as client:
            tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            await tunnel.stop()
            await tunnel.stop()
            await tunnel.join()
            assert not tunnel.running
            local = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            reader, writer = await asyncio.open_connection(*local.get_entrance_socket())
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            # Not forced: the open connection goes on, and stop() waits for it.
            stopping = asyncio.ensure_future(local.stop(stop_remote_tunnel=False))
            done, _ = await asyncio.wait({stopping}, timeout=0.3)
            assert not done, "the stop did not wait for the open connection"
            writer.write(b"pong")
            assert await reader.readexactly(4) == b"pong"
            writer.close()
            await asyncio.wait_for(stopping, 10)
            assert not local.running
            with pytest.raises(OSError):
                await asyncio.open_connection(*local.get_entrance_socket())
            forced = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            reader, writer = await asyncio.open_connection(*forced.get_entrance_socket())
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            await asyncio.wait_for(forced.stop(stop_remote_tunnel=False, force=True), 10)
            try:
                rest = await asyncio.wait_for(reader.read(), 10)
            except ConnectionResetError:
                rest = b""
            assert rest == b"", "a forced stop cuts the connection"
        await server.stop()
        await server.stop()
    run(main())


def test_failures_raise_the_exceptions_of_1_0_x(tmp_path, echo_port):
    config = tmp_path / "netunnel.conf"
    config.write_text(json.dumps({"allowed_tunnel_destinations": {"127.0.0.1": str(echo_port)}}))

    async def main():
        server = await started(config_path=str(config))
        client = NETunnelClient(f"http://127.0.0.1:{server._port}")
        with pytest.raises(NETunnelNotConnectedError):
            await client.open_tunnel_to_server("127.0.0.1", echo_port)
        async with client:
            with pytest.raises(NETunnelResponseError) as refused:
                await client.open_tunnel_to_server("127.0.0.1", echo_port + 1)
            assert refused.value.kind == "not_allowed"
            assert "not allowed" in str(refused.value)
            allowed = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            await echo_through(allowed.get_entrance_socket(), 1000)
        await server.stop()
        unreachable = NETunnelClient(f"http://127.0.0.1:{server._port}")
        with pytest.raises(NETunnelError) as gone:
            await unreachable.connect()
        assert gone.value.kind == "connection"
    run(main())


def test_peers_are_kept_in_the_config_file(tmp_path):
    config = tmp_path / "netunnel.conf"

    async def main():
        server = await started(config_path=str(config))
        url = f"http://127.0.0.1:{server._port}"
        async with NETunnelClient(url) as client:
            peer = await client.register_peer("self", url, {"token": "s3cret"})
            assert peer["name"] == "self"
            assert (await client.get_peer_by_name("self"))["id"] == peer["id"]
            assert [p["name"] for p in await client.list_peers()] == ["self"]
            assert "s3cret" not in config.read_text()
            await client.delete_peer_by_name("self")
            assert await client.list_peers() == []
        await server.stop()
    run(main())


def test_a_cancelled_call_stops_its_work_and_never_blocks_the_loop():
    import socket

    # A "server" that accepts and never answers: connect() waits on it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]

    async def main():
        client = NETunnelClient(f"http://127.0.0.1:{port}")
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.connect(), 0.5)
        waited = loop.time() - started
        ticker.cancel()
        assert waited < 2, waited
        # The loop kept running while the engine waited (about 50 ticks of
        # 10 ms in 0.5 s; a loaded machine gets fewer).
        assert ticks >= 5, ticks
        assert not client.connected
        # Cancelled, not left running: the client can be closed and used again.
        await client.close()
    try:
        run(main())
    finally:
        silent.close()


def test_each_object_logs_to_the_logger_it_was_given(echo_port):
    import logging

    class Kept(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    def logger(name):
        kept = Kept()
        made = logging.getLogger(name)
        made.setLevel(logging.DEBUG)
        made.propagate = False
        made.addHandler(kept)
        return made, kept

    server_logger, server_kept = logger("test.server")
    mine, mine_kept = logger("test.mine")
    other, other_kept = logger("test.other")

    async def main():
        server = NETunnelServer(port=0, logger=server_logger)
        await server.start()
        url = f"http://127.0.0.1:{server._port}"
        async with NETunnelClient(url, logger=mine) as client:
            await client.open_tunnel_to_server("127.0.0.1", echo_port)
        async with NETunnelClient(url, logger=other):
            pass
        await server.stop()
    run(main())
    assert any("Starting server" in m for m in server_kept.messages), server_kept.messages
    # The engine's records from during the start reach it too.
    assert any("No configuration file" in m for m in server_kept.messages), server_kept.messages
    assert any("connected to" in m for m in mine_kept.messages), mine_kept.messages
    # Each client's channel is in its own log only.
    assert any("channel 1" in m for m in mine_kept.messages), mine_kept.messages
    assert not any("channel 2" in m for m in mine_kept.messages), mine_kept.messages
    assert any("channel 2" in m for m in other_kept.messages), other_kept.messages
    assert not any("channel 1" in m for m in other_kept.messages), other_kept.messages


def test_tunnels_carry_data_while_python_is_busy(echo_port):
    import subprocess
    import sys
    import time

    # Other processes push 4 MB through the tunnel and echo them, so that
    # nothing on this side but the engine moves the bytes.
    pusher = (
        "import socket, sys, threading\n"
        "conn = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "data = b'x' * 4_000_000\n"
        "threading.Thread(target=conn.sendall, args=(data,)).start()\n"
        "got = 0\n"
        "while got < len(data):\n"
        "    chunk = conn.recv(1 << 16)\n"
        "    if not chunk: break\n"
        "    got += len(chunk)\n"
        "sys.exit(0 if got == len(data) else 1)\n"
    )

    async def main():
        server = NETunnelServer(port=0)
        await server.start()
        async with NETunnelClient(f"http://127.0.0.1:{server._port}") as client:
            tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            host, port = tunnel.get_entrance_socket()
            push = subprocess.Popen([sys.executable, "-c", pusher, host, str(port)])
            # This thread keeps the GIL for 2 s at a time and never yields to
            # the loop: were the engine to need either per chunk, 4 MB would
            # not get through in time.
            switch = sys.getswitchinterval()
            sys.setswitchinterval(2)
            started = time.monotonic()
            try:
                while push.poll() is None and time.monotonic() < started + 10:
                    sum(range(10_000))
                finished = push.poll() is not None
                took = time.monotonic() - started
            finally:
                sys.setswitchinterval(switch)
            assert finished, "4 MB did not get through in 10 s while Python was busy"
            assert push.wait(5) == 0, "the echo came back incomplete"
            print(f"4 MB through and back in {took:.2f} s with the GIL held")
        await server.stop()
    run(main())
