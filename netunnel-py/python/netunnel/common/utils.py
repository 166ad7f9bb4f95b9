"""Helpers of NETunnel 1.0.x's ``netunnel.common.utils`` that scripts and
plugins import. Only ``get_session`` needs aiohttp, which this package does
not depend on: a plugin that uses it brings aiohttp itself."""

import asyncio
import contextlib
import functools
import http
import logging
import socket
import sys
from typing import Any, Iterable, Optional

from .exceptions import NETunnelInvalidProxy

LOGGING_FORMATTER = "%(asctime)s %(name)s - %(levelname)s - %(message)s"


def asyncio_current_task(loop=None):
    return asyncio.current_task(loop)


def asyncio_all_tasks(loop=None):
    return asyncio.all_tasks(loop)


async def get_session(headers=None, ssl=None):
    """An ``aiohttp.ClientSession`` (``ssl``: an SSLContext, False to skip
    verification, None for the default checks)."""
    try:
        import aiohttp
    except ImportError as err:
        raise ImportError("netunnel.common.utils.get_session needs aiohttp: "
                          "pip install aiohttp") from err
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl), headers=headers or {})


def get_logger(name, level=logging.INFO):
    """The logger ``name`` at ``level``, printing to stdout (once, however
    often it is asked for)."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if not any(getattr(handler, "_netunnel", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(LOGGING_FORMATTER))
        handler._netunnel = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger


async def run_blocking_func_in_executor(func, *args, **kwargs):
    """Runs ``func`` on the loop's default executor and returns its result."""
    call = functools.partial(func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(None, call)


def get_unused_port(min_port: int, max_port: int, exclude_ports: Optional[Iterable] = None,
                    address="127.0.0.1"):
    """The first port in ``range(min_port, max_port)``, not in
    ``exclude_ports``, that ``address`` can bind now."""
    excluded = set(exclude_ports or ())
    for port in range(min_port, max_port):
        if port in excluded:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"Failed to found an available port between {min_port} and {max_port}")


@contextlib.contextmanager
def object_in_list(obj: Any, list_of_obj: list):
    """``obj`` is in ``list_of_obj`` for the body of the ``with``."""
    list_of_obj.append(obj)
    try:
        yield obj
    finally:
        with contextlib.suppress(ValueError):
            list_of_obj.remove(obj)


def task_in_list_until_done(task, list_of_tasks: list):
    """``task`` is in ``list_of_tasks`` until it is done."""
    list_of_tasks.append(task)

    def forget(_):
        with contextlib.suppress(ValueError):
            list_of_tasks.remove(task)

    task.add_done_callback(forget)


def update_dict_recursively(dict_to_update: dict, dict_new_values: dict):
    """Merges ``dict_new_values`` into ``dict_to_update``: nested dicts are
    merged, anything else replaces what was there."""
    for key, value in dict_new_values.items():
        if isinstance(value, dict):
            if not isinstance(dict_to_update.get(key), dict):
                dict_to_update[key] = {}
            update_dict_recursively(dict_to_update[key], value)
        else:
            dict_to_update[key] = value


class EventItem(asyncio.Event):
    """An ``asyncio.Event`` that carries an item: ``set(item)``, and
    ``await wait()`` returns it."""

    def __init__(self, loop=None):
        super().__init__()
        self._item: Any = None

    def set(self, obj: Any = None):  # type: ignore[override]
        self._item = obj
        super().set()

    def clear(self):
        self._item = None
        super().clear()

    async def wait(self) -> Any:  # type: ignore[override]
        await super().wait()
        return self._item


class EventQueue(asyncio.Queue):
    """An ``asyncio.Queue`` with ``join_no_empty()``, which returns once the
    queue holds an item (without taking it)."""

    def __init__(self, maxsize=0):
        super().__init__(maxsize=maxsize)
        self._not_empty = asyncio.Event()

    def _mark(self):
        if self.qsize():
            self._not_empty.set()
        else:
            self._not_empty.clear()

    async def put(self, item):
        await super().put(item)
        self._mark()

    def put_nowait(self, item):
        super().put_nowait(item)
        self._mark()

    async def get(self):
        try:
            return await super().get()
        finally:
            self._mark()

    def get_nowait(self):
        try:
            return super().get_nowait()
        finally:
            self._mark()

    async def join_no_empty(self):
        await self._not_empty.wait()


def _get_through(proxy_url, test_url, username, password):
    """The status of a GET of ``test_url`` through the HTTP proxy at
    ``proxy_url``, made by hand so that no environment setting (``no_proxy``
    included) can make it skip the proxy."""
    import base64
    import http.client
    import urllib.parse
    proxy = urllib.parse.urlsplit(proxy_url)
    target = urllib.parse.urlsplit(test_url)
    headers = {}
    if username and password:
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers["Proxy-Authorization"] = f"Basic {credentials}"
    try:
        if proxy.hostname is None or target.hostname is None:
            raise ValueError("a URL without a host")
        if target.scheme == "https":
            connection = http.client.HTTPSConnection(proxy.hostname, proxy.port or 80,
                                                     timeout=30)
            connection.set_tunnel(target.hostname, target.port or 443, headers=headers)
            path = target.path or "/"
            if target.query:
                path += "?" + target.query
            connection.request("GET", path)
        else:
            connection = http.client.HTTPConnection(proxy.hostname, proxy.port or 80,
                                                    timeout=30)
            connection.request("GET", test_url, headers=headers)
        try:
            return connection.getresponse().status
        finally:
            connection.close()
    except (OSError, ValueError, http.client.HTTPException) as err:
        # The reason only: never a URL with its credentials.
        raise NETunnelInvalidProxy(f"the proxy check failed: {type(err).__name__}: "
                                   f"{_without(str(err), username, password)}") from None


def _without(text, *secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "******")
    return text


async def verify_proxy(proxy_url, test_url, username=None, password=None):
    """Raises ``NETunnelInvalidProxy`` unless a GET of ``test_url`` through
    the HTTP proxy ``proxy_url`` answers 200. Credentials go together."""
    if (username and password is None) or (password and username is None):
        raise ValueError("HTTP proxy authentication should include both username and password")
    status = await run_blocking_func_in_executor(_get_through, proxy_url, test_url, username,
                                                 password)
    if status != http.HTTPStatus.OK.value:
        raise NETunnelInvalidProxy(f"Invalid response from proxy: {status}")
