"""Tunnel objects as NETunnel 1.0.x hands them out."""

from typing import Tuple

from .. import _native


class Tunnel:
    """An open tunnel. ``get_entrance_socket()`` is where connections enter,
    ``get_exit_socket()`` where they go; ``get_local_socket()`` and
    ``get_remote_socket()`` name the same two ends from the client's side."""

    def __init__(self, native: "_native.Tunnel"):
        self._native = native

    @property
    def id(self) -> int:
        return self._native.id

    @property
    def running(self) -> bool:
        return self._native.running

    def get_entrance_socket(self) -> Tuple[str, int]:
        return self._native.entrance

    def get_exit_socket(self) -> Tuple[str, int]:
        return self._native.exit

    def get_local_socket(self) -> Tuple[str, int]:
        return self._native.exit if self._native.reverse else self._native.entrance

    def get_remote_socket(self) -> Tuple[str, int]:
        return self._native.entrance if self._native.reverse else self._native.exit

    async def health_check(self) -> bool:
        return self._native.health_check()

    async def stop(self, stop_remote_tunnel: bool = True, force: bool = False) -> None:
        """Stops the tunnel: on the server too unless ``stop_remote_tunnel`` is
        false; ``force`` cuts open connections instead of letting them end."""
        if stop_remote_tunnel:
            await self._native.stop(force)
        else:
            await self._native.stop_local(force)

    async def join(self) -> None:
        """Waits until the tunnel stopped."""
        await self._native.join()

    def __repr__(self) -> str:
        return (f"<Tunnel {self.id} {self.get_entrance_socket()} -> "
                f"{self.get_exit_socket()}{'' if self.running else ' stopped'}>")


class InputTunnel(Tunnel):
    """A client-to-server tunnel (its entrance is here), as 1.0.x names it."""


class OutputTunnel(Tunnel):
    """A server-to-client tunnel (its exit is here), as 1.0.x names it."""


def of(native: "_native.Tunnel") -> Tunnel:
    """The 1.0.x tunnel object for a native tunnel."""
    return OutputTunnel(native) if native.reverse else InputTunnel(native)
