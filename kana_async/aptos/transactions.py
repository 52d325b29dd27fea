"""Signed transactions on the wire: their content type, their hash, their BCS decoding, and
the authentication key of an ed25519 sender.

The client hashes what it is about to send (the hash is known before the node answers);
the simulated node decodes, authenticates and hashes what it receives. Both must agree to
the byte, so both use these functions. Pure code.
"""

from __future__ import annotations

import hashlib

from aptos_sdk.bcs import Deserializer
from aptos_sdk.ed25519 import PublicKey
from aptos_sdk.transactions import SignedTransaction

__all__ = [
    "BCS_SIGNED_TRANSACTION",
    "authentication_key",
    "decode_signed_transaction",
    "transaction_hash",
]

#: Content type of a BCS-encoded ``SignedTransaction`` body.
BCS_SIGNED_TRANSACTION = "application/x.aptos.signed_transaction+bcs"

_HASH_PREFIX = hashlib.sha3_256(b"APTOS::Transaction").digest()
_USER_TRANSACTION = b"\x00"  # the UserTransaction variant of the Transaction enum
_ED25519_SCHEME = b"\x00"  # the single-key ed25519 authentication scheme


def transaction_hash(signed_bcs: bytes) -> str:
    """The hash Aptos gives a signed user transaction (known before it is sent)."""
    return "0x" + hashlib.sha3_256(_HASH_PREFIX + _USER_TRANSACTION + signed_bcs).hexdigest()


def decode_signed_transaction(body: bytes) -> SignedTransaction:
    """The ``SignedTransaction`` in ``body``; ``ValueError`` naming the fault if the bytes are
    not exactly one."""
    de = Deserializer(body)
    try:
        signed = SignedTransaction.deserialize(de)
    except Exception as exc:  # the SDK raises bare Exception on short input
        raise ValueError(str(exc) or type(exc).__name__) from None
    if de.remaining():
        raise ValueError(f"{de.remaining()} trailing bytes after the transaction")
    return signed


def authentication_key(public_key: PublicKey) -> str:
    """The authentication key of a single ed25519 key (``0x`` + 64 hex digits): also the
    address of an account created for that key."""
    return "0x" + hashlib.sha3_256(public_key.to_crypto_bytes() + _ED25519_SCHEME).hexdigest()
