"""NETunnel: tunnels of TCP connections over HTTP(S) websockets.

The API of NETunnel 1.0.x (``netunnel.client.NETunnelClient``,
``netunnel.server.server.NETunnelServer``) on a Rust engine.
"""

import atexit as _atexit
import time as _time

from . import _native
from ._native import __version__

__all__ = ["__version__"]


def _before_finalizing():
    # The engine's threads call into Python to log and to complete awaited
    # calls (pyo3-async-runtimes's call_soon_threadsafe). One of those racing
    # the interpreter's finalization crashed it (2 runs in 150 of a script
    # that exits with everything open). So: no more log records, and a moment
    # without the GIL for a completion under way to finish (0 crashes in 150
    # runs with it). A mitigation, not a proof: see CHANGELOG.
    _native.close_logging()
    _time.sleep(0.05)


_atexit.register(_before_finalizing)
