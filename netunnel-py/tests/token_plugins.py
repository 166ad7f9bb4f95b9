"""A JWT-style plugin pair written as NETunnel 1.0.x users write theirs: the
client posts a shared secret to /authenticate with its own aiohttp session and
gets a signed token with an expiry; the server checks the token's signature
and expiry on every request and answers with aiohttp responses."""

import time

import jwt
from aiohttp import web

from netunnel.common.auth import NETunnelClientAuth, NETunnelServerAuth
from netunnel.common.utils import get_session


class TokenClientAuth(NETunnelClientAuth):
    def __init__(self, secret, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._secret = secret
        self._token = None
        self.seen_urls = []

    async def authenticate(self, client, *args, **kwargs):
        self.seen_urls.append(client.server_url)
        async with await get_session(ssl=False) as session:
            async with session.post(f"{client.server_url}/authenticate",
                                    json={"secret": self._secret},
                                    raise_for_status=True) as answer:
                self._token = (await answer.json())["token"]

    async def is_authenticated(self):
        if self._token is None:
            return False
        try:
            claims = jwt.decode(self._token.encode(), self._secret, algorithms=["HS256"])
        except (ValueError, jwt.DecodeError):
            return False
        return claims["exp"] > time.time()

    async def get_authorized_headers(self):
        return {"Authorization": f"Bearer {self._token}"}

    def dump_object(self):
        return {"secret": self._secret}


class TokenServerAuth(NETunnelServerAuth):
    def __init__(self, secret, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._secret = secret
        self.remotes = set()

    async def get_client_for_peer(self, secret):
        return TokenClientAuth(secret=secret)

    async def is_authenticated(self, request):
        self.remotes.add(request.remote)
        if "Authorization" not in request.headers:
            return False
        try:
            _, token = request.headers["authorization"].split()
            claims = jwt.decode(token.encode(), self._secret, algorithms=["HS256"])
        except (ValueError, jwt.DecodeError):
            return False
        return claims["exp"] >= time.time()

    async def authenticate(self, request):
        data = await request.json()
        if data.get("secret") != self._secret:
            return web.HTTPForbidden()
        token = jwt.encode({"exp": time.time() + 30}, self._secret, algorithm="HS256")
        if isinstance(token, bytes):
            token = token.decode()
        return web.json_response({"token": token})
