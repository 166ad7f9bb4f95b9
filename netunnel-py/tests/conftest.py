"""What the package's tests share: an echo service, free ports, running
coroutines without a pytest plugin, NETunnel 1.0.13 from the interop venv."""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import pytest


def run(coroutine, timeout=60):
    """Runs a test coroutine on a fresh event loop, with a deadline."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def echo_port():
    """An echo service on a free port, for the test."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def serve(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


async def echo_through(address, size=1_000_000):
    """Sends `size` bytes to `address` and checks they all come back."""
    reader, writer = await asyncio.open_connection(*address)
    data = bytes((i * 7 + i // 251) % 256 for i in range(size))

    async def send():
        writer.write(data)
        await writer.drain()

    # Both ways at once: a full echo must not wait for the whole upload.
    _, got = await asyncio.gather(send(), reader.readexactly(size))
    writer.close()
    assert got == data


def interop_python():
    """The interpreter of the venv with NETunnel 1.0.13 (scripts/interop-venv)."""
    python = os.environ.get("NETUNNEL_INTEROP_PYTHON")
    if not python:
        pytest.fail("NETUNNEL_INTEROP_PYTHON is not set: run "
                    "NETUNNEL_INTEROP_PYTHON=$(scripts/interop-venv | tail -1) (scripts/test does)")
    return python


def start_process(args, **kwargs):
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kwargs)


def this_python():
    return sys.executable
