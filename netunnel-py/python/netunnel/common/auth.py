"""Authentication plugins, as NETunnel 1.0.x defines them: subclass
``NETunnelServerAuth`` and ``NETunnelClientAuth``. The Rust server and client
call these coroutines on the event loop the server was started or the client
connected on."""

import abc


class NETunnelServerAuth(abc.ABC):
    def __init__(self, *args, **kwargs):
        pass

    @abc.abstractmethod
    async def get_client_for_peer(self, *args, **kwargs) -> "NETunnelClientAuth":
        """The client plugin a peer uses, from its stored ``auth_data``
        (what the client plugin's ``dump_object()`` returned)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def is_authenticated(self, request) -> bool:
        """Whether ``request`` (every route but ``/authenticate``) may pass."""
        raise NotImplementedError

    @abc.abstractmethod
    async def authenticate(self, request):
        """Answers ``POST /authenticate``: a dict (sent as JSON, 200), None
        (an empty 200), or an aiohttp response (returned or raised)."""
        raise NotImplementedError


class NETunnelClientAuth(abc.ABC):
    def __init__(self, *args, **kwargs):
        pass

    @abc.abstractmethod
    async def authenticate(self, client, *args, **kwargs):
        """Authenticates with the server at ``client.server_url`` (its
        ``/authenticate`` route is the server plugin's)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def is_authenticated(self) -> bool:
        """Whether the credentials are still good (False: authenticate again)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def get_authorized_headers(self) -> dict:
        """Headers sent with every request."""
        raise NotImplementedError

    @abc.abstractmethod
    def dump_object(self) -> dict:
        """What a peer stores as its ``auth_data``, given back to
        ``NETunnelServerAuth.get_client_for_peer(**auth_data)``."""
        raise NotImplementedError


class ServerNoAuth(NETunnelServerAuth):
    async def get_client_for_peer(self, *args, **kwargs) -> "NETunnelClientAuth":
        return ClientNoAuth(*args, **kwargs)

    async def is_authenticated(self, request):
        return True

    async def authenticate(self, request):
        pass


class ClientNoAuth(NETunnelClientAuth):
    async def authenticate(self, client, *args, **kwargs):
        pass

    async def is_authenticated(self):
        return True

    async def get_authorized_headers(self):
        return {}

    def dump_object(self):
        return {}
