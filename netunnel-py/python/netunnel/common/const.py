"""NETunnel 1.0.x's constants, with the values the engine uses."""

from typing import Any, Callable, Coroutine

# Types, for annotations. 1.0.x's websockets were aiohttp's; this package has
# none of its own to offer, so the alias is Any.
WebsocketType = Any
CallableOfCoroutine = Callable[..., Coroutine]
TunnelId = int
ChannelId = int

# Seconds between the client's heartbeats on its control channel.
CLIENT_CHANNEL_HEARTBEAT = 20
# How many control channels a 1.0.x server accepted at once (kept for code
# that reads it; this engine does not enforce a channel cap yet).
SERVER_MAXIMUM_CLIENT_CHANNELS = 1000
SERVER_MAXIMUM_CLIENT_CHANNELS_ERROR = "Reached maximum allowed number of control_channels"
# The range static tunnels' local ports are picked from.
MIN_STATIC_TUNNEL_LOCAL_PORT = 20000
MAX_STATIC_TUNNEL_LOCAL_PORT = 21000
