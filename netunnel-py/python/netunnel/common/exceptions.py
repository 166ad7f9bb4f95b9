"""The exceptions of NETunnel 1.0.x, raised by the Rust engine too."""

from .._native import (
    NETunnelError,
    NETunnelNotConnectedError,
    NETunnelResponseError,
    NETunnelServerError,
)

__all__ = [
    "NETunnelError",
    "NETunnelNotConnectedError",
    "NETunnelResponseError",
    "NETunnelServerError",
]
