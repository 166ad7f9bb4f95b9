"""``Encryptor``: NETunnel 1.0.x's secret-key helper, on the engine's
cryptography (no ``cryptography`` package needed).

What it encrypts is a Fernet token, as 1.0.x wrote, so values a script
encrypts still work with 1.0.x servers; it decrypts Fernet tokens and the
engine's own ``ntv1:`` tokens. ``python -m netunnel.common.security`` has
1.0.x's ``generate-key``, ``encrypt`` and ``decrypt`` commands.
"""

import argparse
import sys
from typing import List, Optional, Union

from .. import _native

InvalidToken = _native.InvalidToken


def _text(value: Union[str, bytes]) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


def _token(value: Union[str, bytes]) -> str:
    if isinstance(value, (bytes, bytearray)):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken("not an encrypted value (a token is ASCII)") from None
    return value


class Encryptor:
    """Encrypts and decrypts with ``key``, the urlsafe base64 of 32 bytes
    (str or bytes). A malformed key raises ``ValueError``; a token that does
    not match the key raises ``InvalidToken``."""

    def __init__(self, key: Union[str, bytes]):
        self._key = _text(key)
        # Checked now, as 1.0.x's Fernet(key) did.
        _native.encrypt(self._key, b"")

    @staticmethod
    def generate_key() -> bytes:
        return _native.generate_key().encode()

    def encrypt(self, data: bytes) -> bytes:
        # memoryview: bytes-like objects only (bytes(16) would be 16 zeros).
        return _native.encrypt(self._key, memoryview(data).tobytes()).encode()

    def decrypt(self, data: Union[str, bytes]) -> bytes:
        return _native.decrypt(self._key, _token(data))

    def encrypt_string(self, data: str) -> str:
        return self.encrypt(data.encode()).decode()

    def decrypt_string(self, data: str) -> str:
        return self.decrypt(data).decode()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netunnel.common.security",
                                     description="Toolkit for security utilities on netunnel")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate-key", help="Generates a key that can be used on NETunnelServer")
    for name, text in (("encrypt", "Encrypt data using the secret_key"),
                       ("decrypt", "Decrypt data using the secret_key")):
        command = commands.add_parser(name, help=text)
        command.add_argument("secret_key", metavar="SECRET_KEY")
        command.add_argument("data", metavar="DATA")
    args = parser.parse_args(argv)
    try:
        if args.command == "generate-key":
            print(Encryptor.generate_key().decode())
        elif args.command == "encrypt":
            print(Encryptor(args.secret_key).encrypt_string(args.data))
        else:
            print(Encryptor(args.secret_key).decrypt_string(args.data))
    except (ValueError, InvalidToken) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
