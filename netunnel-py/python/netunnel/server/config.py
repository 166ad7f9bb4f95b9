"""NETunnel 1.0.x's configuration module: the defaults, ``NETUNNEL_<KEY>``
environment overrides, and ``NETunnelConfiguration``, a JSON file kept in
memory and written back atomically. The engine reads and writes the same
file format; the defaults come from the engine itself.

``python -m netunnel.server.config create PATH [--custom-changes JSON]``
writes a configuration file, as 1.0.x's command did.
"""

import argparse
import asyncio
import contextlib
import copy
import json
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional

from .. import _native

ENV_VARIABLES_PREFIX = "NETUNNEL_"

# The engine's defaults; ``secret_key`` is never among them, so it is not
# written to a file by mistake.
_DEFAULT_CONFIG: Dict[str, Any] = json.loads(_native.default_config_json())


def get_default_config(use_env_vars=True) -> dict:
    """The defaults; with ``use_env_vars``, each key is overridden by the
    JSON in ``NETUNNEL_<KEY>`` when that variable is set (e.g.
    ``NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS='{"127.0.0.1": "22"}'``)."""
    config = copy.deepcopy(_DEFAULT_CONFIG)
    if use_env_vars:
        for key in config:
            name = ENV_VARIABLES_PREFIX + key.upper()
            if name in os.environ:
                try:
                    config[key] = json.loads(os.environ[name])
                except json.JSONDecodeError as err:
                    raise json.JSONDecodeError(f"{name} is not valid JSON: {err.msg}",
                                               err.doc, err.pos) from None
    return config


def _write_atomically(path: str, text: str) -> None:
    """Replaces ``path`` with ``text`` (UTF-8) as the engine does: a new file
    (mode 0600) named as the engine's leftovers are, so that a server
    starting after a crash removes it, synced, renamed over the old one, and
    the folder synced."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}.tmp-"
    handle, temporary = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class NETunnelConfiguration:
    """The configuration of a server: the defaults, the file at
    ``config_path`` over them (when given), changes kept in memory until
    ``save()``. Make one with ``await NETunnelConfiguration.create(path)``."""

    def __init__(self, config_path=None):
        self._config_path = config_path
        self._saving = asyncio.Lock()
        self._config = get_default_config()

    @classmethod
    async def create(cls, config_path=None):
        self = cls(config_path=config_path)
        await self._initialize()
        return self

    async def recreate(self):
        """Back to the defaults, saved: every current setting is lost."""
        self._config = get_default_config()
        await self.save()

    async def _initialize(self):
        if self._config_path:
            try:
                with open(self._config_path, encoding="utf-8") as file:
                    text = file.read()
            except FileNotFoundError:
                text = None
            if text is not None:
                loaded = json.loads(text) if text.strip() else {}
                if not isinstance(loaded, dict):
                    raise ValueError(f"{self._config_path}: the configuration must be a "
                                     "JSON object")
                self._config.update(loaded)
        await self.save()

    async def save(self):
        """Writes the configuration to its file (if it has one): a new file
        (mode 0600) renamed over the old, so a crash never leaves half of it."""
        if self._config_path is None:
            return
        text = json.dumps(self._config, indent=4)
        async with self._saving:
            await asyncio.get_running_loop().run_in_executor(
                None, _write_atomically, self._config_path, text)

    def __getitem__(self, key):
        return self._config[key]

    def __setitem__(self, key, value):
        self._config[key] = value

    def __contains__(self, key):
        return key in self._config

    def get(self, key, default=None):
        return self._config.get(key, default)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netunnel.server.config")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="Write a configuration file at PATH")
    create.add_argument("path", metavar="PATH")
    create.add_argument("--custom-changes", default="{}",
                        help="A json dump string of the changes you want to make in the "
                             "default configuration")
    args = parser.parse_args(argv)
    try:
        changes = json.loads(args.custom_changes)
    except ValueError as err:
        parser.error(f"--custom-changes is not valid JSON: {err}")
    if not isinstance(changes, dict):
        parser.error("--custom-changes must be a JSON object")
    directory = os.path.dirname(args.path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    _write_atomically(args.path, json.dumps(changes))

    async def create_config():
        await NETunnelConfiguration.create(args.path)

    asyncio.run(create_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
