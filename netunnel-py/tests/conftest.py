"""What the package's tests share: an echo service, free ports, running
coroutines without a pytest plugin, NETunnel 1.0.13 from the interop venv."""

import asyncio
import contextlib
import os
import re
import signal
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


# The echo service of `echo_port`, run by a Python of its own.
_ECHO_SERVICE = """
import socket, threading
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)
def serve(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@pytest.fixture
def echo_port():
    """An echo service on a free port, for the test, in another process (so
    that nothing this process does, holding the GIL included, slows it)."""
    service = subprocess.Popen([sys.executable, "-c", _ECHO_SERVICE], stdout=subprocess.PIPE)
    try:
        # Its first line is its port, printed once it listens.
        ready = threading.Timer(30, service.kill)
        ready.start()
        line = service.stdout.readline()
        ready.cancel()
        if not line:
            raise AssertionError("the echo service did not start")
        yield int(line)
    finally:
        service.kill()
        service.wait()
        service.stdout.close()


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


def this_python():
    return sys.executable


def _interruptible():
    """In the child before it runs: SIGINT back to its default. A shell runs
    background jobs with SIGINT ignored, Python then installs no handler of
    its own, and the commands under test would never see the SIGINT the
    tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def server_command(python, port, *args, env=None):
    """Runs `python -m netunnel.server -p PORT args...` while the block runs,
    then interrupts it with SIGINT; the process (output read at the end) is
    what the block gets."""
    server = subprocess.Popen([python, "-m", "netunnel.server", "-p", str(port), *args],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              preexec_fn=_interruptible,
                              env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    try:
        wait_listening(port, server)
        yield server
    finally:
        server.send_signal(signal.SIGINT)
        server.output, _ = server.communicate(timeout=10)


async def client_command(python, *args):
    """Starts `python -m netunnel.client args...` and returns it with the
    entrance it printed, once it did."""
    client = await asyncio.create_subprocess_exec(
        python, "-m", "netunnel.client", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, preexec_fn=_interruptible)
    seen = []
    while True:
        line = (await client.stdout.readline()).decode()
        if not line:
            await client.wait()
            raise AssertionError(f"the client command exited before opening its tunnel: {seen}")
        seen.append(line)
        found = re.search(r"Tunnel entrance socket: ([0-9.]+):(\d+)", line)
        if found:
            return client, (found.group(1), int(found.group(2)))


async def interrupt(process) -> int:
    """SIGINT to an asyncio subprocess; its exit code."""
    process.send_signal(signal.SIGINT)
    return await process.wait()


@contextlib.contextmanager
def tinyproxy(directory, credentials=None):
    """A real HTTP proxy (Debian's tinyproxy) on a free port while the block
    runs, with Basic auth when ``credentials`` (user, password) are given;
    the block gets its URL."""
    port = free_port()
    conf = directory / f"tinyproxy-{port}.conf"
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 60", "MaxClients 50",
             "Allow 127.0.0.1", f'LogFile "{directory / f"tinyproxy-{port}.log"}"',
             "LogLevel Info"]
    if credentials:
        lines.append("BasicAuth {} {}".format(*credentials))
    conf.write_text("\n".join(lines) + "\n")
    proxy = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proxy)
        yield f"http://127.0.0.1:{port}"
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()


@contextlib.contextmanager
def http_service():
    """A plain HTTP service answering 200 to every GET while the block runs;
    the block gets its URL."""
    import http.server

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    service = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{service.server_address[1]}/"
    finally:
        service.shutdown()
        service.server_close()


@pytest.fixture
def pki(tmp_path):
    """A test CA and a certificate it signed for localhost and 127.0.0.1,
    made with the openssl command: (ca, cert, key) paths."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ca_key, ca, key, csr, cert = (str(tmp_path / name) for name in
                                  ("ca.key", "ca.pem", "key.pem", "server.csr", "cert.pem"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "2", "-subj", "/CN=netunnel test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=localhost")
    extensions = tmp_path / "san.ext"
    extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", str(extensions))
    return ca, cert, key
