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


# The kind of an exception raised without one (by Python code); the engine
# sets each of its exceptions' own.
for _class, _kind in ((NETunnelError, "refused"), (NETunnelResponseError, "refused"),
                      (NETunnelNotConnectedError, "channel_closed"),
                      (NETunnelServerError, "refused")):
    setattr(_class, "kind", _kind)


class NETunnelNotAuthenticatedError(NETunnelError):
    kind = "unauthorized"


class NETunnelDestinationNotAllowed(NETunnelError):
    kind = "not_allowed"


class NETunnelInvalidProxy(NETunnelError):
    kind = "connection"


# What 1.0.x's server code raised, with the status bound to each; kept so that
# code importing them keeps working.
setattr(NETunnelServerError, "status_code", http.HTTPStatus.INTERNAL_SERVER_ERROR)


class NETunnelServerNotFound(NETunnelServerError):
    status_code = http.HTTPStatus.NOT_FOUND
    kind = "not_found"


class NETunnelServerBadRequest(NETunnelServerError):
    status_code = http.HTTPStatus.BAD_REQUEST
    kind = "bad_request"


class NETunnelAuthError(NETunnelServerError):
    status_code = http.HTTPStatus.FORBIDDEN
    kind = "unauthorized"


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
