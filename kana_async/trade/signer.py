"""The account that signs transactions: an Aptos ed25519 key that never leaks.

The private key is held only inside the aptos_sdk key object; this class has no attribute,
repr, str, pickle form or error message that shows it. Only the address and the public key
are visible.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NoReturn

from aptos_sdk import ed25519
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.authenticator import AccountAuthenticator
from aptos_sdk.transactions import RawTransaction, SignedTransaction

from ..errors import ValidationError

__all__ = ["DEFAULT_KEY_ENV", "Signer"]

#: The environment variable :meth:`Signer.from_env` reads by default.
DEFAULT_KEY_ENV = "KANA_PRIVATE_KEY"

_AIP80_PREFIX = "ed25519-priv-"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


def _parse_private_key(value: str | bytes, param: str) -> bytes:
    """32 key bytes from raw bytes, hex (with or without ``0x``) or AIP-80 text.

    Errors name the rule but never echo the value.
    """
    if isinstance(value, bytes | bytearray):
        if len(value) != 32:
            raise ValidationError(param, "must be 32 bytes")
        return bytes(value)
    if not isinstance(value, str):
        raise ValidationError(param, "must be a hex string or 32 bytes")
    text = value.strip()
    if text.startswith(_AIP80_PREFIX):
        text = text[len(_AIP80_PREFIX):]
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if not _HEX_KEY.fullmatch(text):
        raise ValidationError(
            param,
            "must be an ed25519 private key: 64 hex digits, optionally prefixed by 0x or "
            "'ed25519-priv-0x' (AIP-80)",
        )
    return bytes.fromhex(text)


class Signer:
    """Signs Aptos transactions for one wallet; the key is never shown (repr, str, errors)
    and cannot be pickled or copied.

    ``private_key`` is 32 raw bytes or 64 hex digits, optionally prefixed by ``0x`` or
    ``ed25519-priv-0x`` (AIP-80). A bad key raises :class:`~kana_async.ValidationError`
    without echoing it. :meth:`from_env` reads ``KANA_PRIVATE_KEY`` by default:

    >>> import os
    >>> os.environ["KANA_PRIVATE_KEY"] = "11" * 32
    >>> signer = Signer.from_env()
    >>> signer.address
    '0x147e4d3a5b10eaed2a93536e284c23096dfcea9ac61f0a8420e5d01fbd8f0ea8'
    >>> signer
    Signer(address=0x147e4d3a5b10eaed2a93536e284c23096dfcea9ac61f0a8420e5d01fbd8f0ea8)
    >>> del os.environ["KANA_PRIVATE_KEY"]
    """

    __slots__ = ("_address", "_key", "_public_key")

    def __init__(self, private_key: str | bytes) -> None:
        raw = _parse_private_key(private_key, "private_key")
        self._key = ed25519.PrivateKey.from_hex(raw)
        self._public_key: ed25519.PublicKey = self._key.public_key()
        self._address = str(AccountAddress.from_key(self._public_key))

    @classmethod
    def from_env(cls, name: str = DEFAULT_KEY_ENV) -> Signer:
        """The key stored in environment variable ``name``.

        :raises ValidationError: if the variable is unset or empty, or holds no valid key
            (the error names the variable, never the value).
        """
        value = os.environ.get(name)
        if not value:
            raise ValidationError(name, "environment variable is not set or empty")
        try:
            return cls(value)
        except ValidationError as exc:
            raise ValidationError(name, exc.rule) from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Signer:
        """The key in a text file (its first non-blank line; surrounding space ignored).

        :raises ValidationError: if the file cannot be read or its first line is no valid key
            (the error names the file, never the value).
        """
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise ValidationError("path", f"cannot read key file ({exc.strerror})",
                                  str(path)) from None
        first = text.splitlines()[0] if text else ""
        try:
            return cls(first)
        except ValidationError as exc:
            raise ValidationError(f"key file {path}", exc.rule) from None

    @property
    def address(self) -> str:
        """The wallet address (``0x`` + 64 lower-case hex digits)."""
        return self._address

    @property
    def public_key(self) -> ed25519.PublicKey:
        """The ed25519 public key (an ``aptos_sdk`` key object)."""
        return self._public_key

    def sign(self, raw: RawTransaction) -> SignedTransaction:
        """The signed transaction (ed25519 over the ``APTOS::RawTransaction`` signing message)."""
        authenticator: AccountAuthenticator = raw.sign(self._key)
        return SignedTransaction(raw, authenticator)

    def __repr__(self) -> str:
        # Safe on a half-built object too (its __init__ failed), e.g. in a traceback.
        address = getattr(self, "_address", None)
        return f"Signer(address={address})" if address else "Signer(<no key>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer cannot be pickled or copied (it holds a private key)")

    def __copy__(self) -> NoReturn:
        self.__reduce__()

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__reduce__()
