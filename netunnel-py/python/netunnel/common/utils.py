"""Helpers 1.0.x plugins import. ``get_session`` needs aiohttp, which this
package does not depend on: a plugin that uses it brings aiohttp itself."""

import logging


async def get_session(headers=None, ssl=None):
    """An ``aiohttp.ClientSession`` (``ssl``: an SSLContext, False to skip
    verification, None for the default checks)."""
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl), headers=headers or {})


def get_logger(name, level=logging.INFO):
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    return logger
