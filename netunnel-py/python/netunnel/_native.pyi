"""The Rust engine: what the package's modules are built on."""

from typing import Any, Awaitable, List, Optional, Tuple, final

__all__ = [
    "BuiltinClientAuth",
    "BuiltinServerAuth",
    "Client",
    "InvalidToken",
    "NETunnelError",
    "NETunnelNotConnectedError",
    "NETunnelResponseError",
    "NETunnelServerError",
    "Server",
    "Tunnel",
    "__version__",
    "close_logging",
    "decrypt",
    "default_config_json",
    "encrypt",
    "generate_key",
]
__version__: str

class NETunnelError(Exception):
    kind: str

class NETunnelResponseError(NETunnelError): ...
class NETunnelNotConnectedError(NETunnelError): ...
class NETunnelServerError(NETunnelError): ...

class InvalidToken(Exception): ...

def close_logging() -> None: ...
def generate_key() -> str: ...
def encrypt(secret_key: str, data: bytes, fernet: bool = True) -> str: ...
def decrypt(secret_key: str, token: str) -> bytes: ...
def default_config_json() -> str: ...

@final
class Server:
    @staticmethod
    def start(
        host: str,
        port: int,
        config_path: Optional[str] = None,
        secret_key: Optional[str] = None,
        environment: bool = True,
        auth: Optional[Any] = None,
        logger: Optional[Any] = None,
        tls_cert: Optional[str] = None,
        tls_key: Optional[str] = None,
    ) -> Awaitable["Server"]: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...
    def channels(self) -> List[Tuple[int, List[int]]]: ...
    def stop(self) -> Awaitable[None]: ...

@final
class Client:
    def __new__(
        cls,
        server_url: str,
        proxy_url: Optional[str] = None,
        proxy_username: Optional[str] = None,
        proxy_password: Optional[str] = None,
        ca_file: Optional[str] = None,
        insecure: bool = False,
        auth: Optional[Any] = None,
        owner: Optional[Any] = None,
        logger: Optional[Any] = None,
    ) -> "Client": ...
    @property
    def connected(self) -> bool: ...
    def connect(self) -> Awaitable[None]: ...
    def close(self) -> Awaitable[None]: ...
    def remote_version(self) -> Awaitable[str]: ...
    def open_tunnel_to_server(
        self, local_address: str, local_port: Optional[int], remote_address: str, remote_port: int
    ) -> Awaitable["Tunnel"]: ...
    def open_tunnel_to_client(
        self, local_address: str, local_port: int, remote_address: str, remote_port: Optional[int]
    ) -> Awaitable["Tunnel"]: ...
    def request(self, method: str, path: str, body: Optional[str] = None) -> Awaitable[str]: ...

@final
class Tunnel:
    @property
    def id(self) -> int: ...
    @property
    def reverse(self) -> bool: ...
    @property
    def entrance(self) -> Tuple[str, int]: ...
    @property
    def exit(self) -> Tuple[str, int]: ...
    @property
    def running(self) -> bool: ...
    def health_check(self) -> bool: ...
    def stop(self, force: bool) -> Awaitable[None]: ...
    def stop_local(self, force: bool) -> Awaitable[None]: ...
    def join(self) -> Awaitable[None]: ...

@final
class BuiltinServerAuth:
    def __new__(cls, name: str, data: str) -> "BuiltinServerAuth": ...

@final
class BuiltinClientAuth:
    def __new__(cls, name: str, data: str) -> "BuiltinClientAuth": ...
