"""The bridge between the engine and Python authentication plugins: the Rust
side calls these coroutines with plain values and gets plain values back."""

import asyncio
import json
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl


class Headers:
    """Request headers: a case-insensitive, read-only mapping (as aiohttp's)."""

    def __init__(self, pairs: List[Tuple[str, str]]):
        self._pairs = list(pairs)

    def get(self, name: str, default=None):
        wanted = name.lower()
        for key, value in self._pairs:
            if key.lower() == wanted:
                return value
        return default

    def getall(self, name: str, default=None):
        wanted = name.lower()
        found = [value for key, value in self._pairs if key.lower() == wanted]
        return found if found else ([] if default is None else default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self):
        return iter(key for key, _ in self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def keys(self):
        return [key for key, _ in self._pairs]

    def items(self):
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"<Headers {[key for key, _ in self._pairs]}>"


class _RelUrl:
    def __init__(self, path: str, query_string: str):
        self.path = path
        self.query_string = query_string
        self.query = dict(parse_qsl(query_string))

    def __str__(self) -> str:
        return self.path + (f"?{self.query_string}" if self.query_string else "")


class Request:
    """What a server plugin is given: the parts of aiohttp's ``web.Request``
    plugins use (``headers``, ``method``, ``path``, ``rel_url``, ``query``,
    ``remote``, ``await json()``, ``await text()``, ``await read()``)."""

    def __init__(self, method: str, path: str, query_string: str,
                 headers: List[Tuple[str, str]], remote: Optional[str], scheme: str,
                 body: bytes):
        self.method = method
        self.path = path
        self.query_string = query_string
        self.rel_url = _RelUrl(path, query_string)
        self.query = self.rel_url.query
        self.headers = Headers(headers)
        # aiohttp gives the address without the port.
        self.remote = remote.rsplit(":", 1)[0].strip("[]") if remote else None
        self.scheme = scheme
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def text(self) -> str:
        return self._body.decode("utf-8", errors="replace")

    async def json(self) -> Any:
        return json.loads(self._body.decode("utf-8"))

    @property
    def can_read_body(self) -> bool:
        return bool(self._body)


def _answer(result) -> Tuple[int, bytes, List[Tuple[str, str]]]:
    """A plugin's answer as (status, body, headers)."""
    if result is None:
        return 200, b"", []
    if isinstance(result, (dict, list)):
        return 200, json.dumps(result).encode(), [("Content-Type", "application/json")]
    status = getattr(result, "status", None)
    if isinstance(status, int):
        # An aiohttp response (web.json_response, web.HTTPForbidden, ...).
        body = getattr(result, "body", None)
        if body is None:
            text = getattr(result, "text", None)
            body = text.encode() if isinstance(text, str) else b""
        elif not isinstance(body, (bytes, bytearray)):
            body = getattr(body, "_value", b"") or b""
        headers = [(str(key), str(value))
                   for key, value in getattr(result, "headers", {}).items()
                   if str(key).lower() not in ("content-length", "date", "server")]
        return status, bytes(body), headers
    raise TypeError(f"an authentication plugin answered with {type(result).__name__}")


async def bounded(seconds: float, coroutine):
    """``coroutine``, cancelled after ``seconds`` (``TimeoutError``)."""
    return await asyncio.wait_for(coroutine, seconds)


async def is_authenticated(plugin, request: Dict[str, Any]) -> bool:
    return bool(await plugin.is_authenticated(Request(**request)))


async def authenticate(plugin, request: Dict[str, Any]):
    try:
        result = await plugin.authenticate(Request(**request))
    except Exception as raised:  # aiohttp's HTTPException is raised as well as returned
        if isinstance(getattr(raised, "status", None), int):
            return _answer(raised)
        raise
    return _answer(result)


class _PeerClient:
    """What a peer's client plugin is given as ``client``."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.ssl = None


async def client_for_peer(plugin, auth_data: Dict[str, str]):
    return await plugin.get_client_for_peer(**auth_data)


async def client_authenticate(plugin, client, server_url: str) -> None:
    await plugin.authenticate(client if client is not None else _PeerClient(server_url))


async def client_is_authenticated(plugin) -> bool:
    return bool(await plugin.is_authenticated())


async def client_headers(plugin) -> List[Tuple[str, str]]:
    headers = await plugin.get_authorized_headers()
    return [(str(key), str(value)) for key, value in (headers or {}).items()]
