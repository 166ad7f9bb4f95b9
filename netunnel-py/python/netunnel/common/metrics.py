"""A local port that answers ``GET /metrics`` with a metrics text: what
``python -m netunnel.client --metrics-port`` listens on."""

import asyncio

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A scraper's request head: at most this long, within this many seconds.
_MAX_HEAD = 8192
_HEAD_TIMEOUT = 10
# Connections served at once; past it a new one is closed at once.
_MAX_CONNECTIONS = 64


def _answer(status, body, content_type="text/plain; charset=utf-8"):
    data = body.encode()
    head = ("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (status, content_type, len(data)))
    return head.encode() + data


async def serve_metrics(read, host="127.0.0.1", port=0):
    """Serves ``read()`` (a function returning the text) at
    ``http://host:port/metrics``, one request per connection; returns the
    ``asyncio.Server``."""
    serving = 0

    async def handle(reader, writer):
        nonlocal serving
        if serving >= _MAX_CONNECTIONS:
            writer.close()
            return
        serving += 1
        try:
            await _serve_one(reader, writer)
        finally:
            serving -= 1

    async def _serve_one(reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            writer.close()
            return
        request = head.split(b"\r\n", 1)[0].split(b" ")
        if len(request) != 3 or request[1].split(b"?", 1)[0] != b"/metrics":
            answer = _answer("404 Not Found", "not found: the metrics are at /metrics\n")
        elif request[0] != b"GET":
            answer = _answer("405 Method Not Allowed", "")
        else:
            answer = _answer("200 OK", read(), CONTENT_TYPE)
        try:
            writer.write(answer)
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    return await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
