"""Signed transactions on the wire: hash, BCS decoding, authentication key."""

from __future__ import annotations

import hashlib

import pytest
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.ed25519 import PrivateKey

from kana_async.aptos.transactions import (
    authentication_key,
    decode_signed_transaction,
    transaction_hash,
)

#: aptos_sdk's validated corpus transaction (``test_entry_function_with_corpus``): a
#: ``0x1::coin::transfer`` signed by the key below, chain 4, sequence number 11.
CORPUS_KEY = "9bf49a6a0755f953811fce125f2683d50429c3bb49e074147e0089a52eae155f"
CORPUS_SENDER = "0x7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d6"
CORPUS_SIGNED = bytes.fromhex(
    "7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d60b0000000000000002000000"
    "000000000000000000000000000000000000000000000000000000000104636f696e087472616e7366657201"
    "0700000000000000000000000000000000000000000000000000000000000000010a6170746f735f636f696e"
    "094170746f73436f696e0002202d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7f"
    "a9088813000000000000d0070000000000000100000000000000d20296490000000004"
    "0020b9c6ee1630ef3e711144a648db06bbb2284f7274cfbee53ffcee503cc1a4920040f25b74ec60a38a1ed7"
    "80fd2bef6ddb6eb4356e3ab39276c9176cdf0fcae2ab37d79b626abb43d926e91595b66503a4a3c90acbae36"
    "a28d405e308f3537af720b"
)
#: sha3-256(sha3-256("APTOS::Transaction") || 0x00 (UserTransaction) || the signed bytes).
CORPUS_HASH = "0xdb7e0f0b00b817ad8a9d2eae33cf4eec9e25110bac48fa6807000f43128f17ac"


def test_hash_of_the_corpus_transaction() -> None:
    assert transaction_hash(CORPUS_SIGNED) == CORPUS_HASH
    assert hashlib.sha3_256(b"APTOS::Transaction").hexdigest() == (
        "fa210a9417ef3e7fa45bfa1d17a8dbd4d883711910a550d265fee189e9266dd4")


def test_decode_is_the_inverse_of_serialize() -> None:
    signed = decode_signed_transaction(CORPUS_SIGNED)
    assert signed.verify()
    assert signed.bytes() == CORPUS_SIGNED
    raw = signed.transaction
    assert (raw.sequence_number, raw.chain_id, raw.max_gas_amount) == (11, 4, 2000)
    assert str(raw.sender) == CORPUS_SENDER


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        (CORPUS_SIGNED + b"\x00", "1 trailing bytes"),
        (CORPUS_SIGNED[:-1], None),
        (CORPUS_SIGNED[:40], None),
        (b"", None),
        (b"\xff" * 64, None),
    ],
    ids=["trailing", "short-by-one", "truncated", "empty", "garbage"],
)
def test_decode_refuses_anything_but_exactly_one_transaction(
    body: bytes, fault: str | None
) -> None:
    with pytest.raises(ValueError, match=fault) as info:
        decode_signed_transaction(body)
    assert str(info.value)  # the node quotes it in its answer


def test_authentication_key_is_the_address_the_sdk_derives() -> None:
    public_key = PrivateKey.from_hex(CORPUS_KEY).public_key()
    assert authentication_key(public_key) == CORPUS_SENDER
    assert authentication_key(public_key) == str(AccountAddress.from_key(public_key))
    signed = decode_signed_transaction(CORPUS_SIGNED)
    auth = signed.authenticator.authenticator
    assert authentication_key(auth.public_key) == CORPUS_SENDER
