"""The exceptions of NETunnel 1.0.x. The engine raises the first four; every
failure it raises also has a ``kind`` attribute, the engine's stable name for
it (``"not_allowed"``, ``"connection"``, ``"unauthorized"``, ...)."""

import http

from .._native import (
    NETunnelError,
    NETunnelNotConnectedError,
    NETunnelResponseError,
    NETunnelServerError,
)


class NETunnelNotAuthenticatedError(NETunnelError):
    pass


class NETunnelDestinationNotAllowed(NETunnelError):
    pass


class NETunnelInvalidProxy(NETunnelError):
    pass


# What 1.0.x's server code raised, with the status bound to each; kept so that
# code importing them keeps working.
setattr(NETunnelServerError, "status_code", http.HTTPStatus.INTERNAL_SERVER_ERROR)


class NETunnelServerNotFound(NETunnelServerError):
    status_code = http.HTTPStatus.NOT_FOUND


class NETunnelServerBadRequest(NETunnelServerError):
    status_code = http.HTTPStatus.BAD_REQUEST


class NETunnelAuthError(NETunnelServerError):
    status_code = http.HTTPStatus.FORBIDDEN


__all__ = [
    "NETunnelError",
    "NETunnelNotConnectedError",
    "NETunnelNotAuthenticatedError",
    "NETunnelResponseError",
    "NETunnelDestinationNotAllowed",
    "NETunnelInvalidProxy",
    "NETunnelServerError",
    "NETunnelServerNotFound",
    "NETunnelServerBadRequest",
    "NETunnelAuthError",
]
