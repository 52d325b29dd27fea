"""The signer: every key format, the address, and a key that never shows."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import pytest
from aptos_sdk import ed25519
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.transactions import EntryFunction, RawTransaction, TransactionPayload

from kana_async.errors import ValidationError
from kana_async.trade.signer import Signer

KEY_HEX = "9bf49a6a0755f953811fce125f2683d50429c3bb49e074147e0089a52eae155f"
EXPECTED = str(Account.load_key("0x" + KEY_HEX).address())


@pytest.mark.parametrize(
    "key",
    [KEY_HEX, "0x" + KEY_HEX, "ed25519-priv-0x" + KEY_HEX, f"  {KEY_HEX.upper()}\n",
     bytes.fromhex(KEY_HEX)],
)
def test_every_key_format_gives_the_same_address(key: str | bytes) -> None:
    assert Signer(key).address == EXPECTED


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "ed25519-priv-0x" + KEY_HEX)
    assert Signer.from_env("MY_KEY").address == EXPECTED
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(ValidationError, match="MY_KEY: environment variable is not set"):
        Signer.from_env("MY_KEY")


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    path.write_text(f"0x{KEY_HEX}\n")
    assert Signer.from_file(path).address == EXPECTED
    with pytest.raises(ValidationError, match="cannot read key file"):
        Signer.from_file(tmp_path / "missing.txt")


@pytest.mark.parametrize("bad", ["", "0x1234", KEY_HEX[:-1] + "g", KEY_HEX + "00", b"\x00" * 31])
def test_bad_keys_are_rejected_without_echoing_them(bad: str | bytes) -> None:
    with pytest.raises(ValidationError) as info:
        Signer(bad)
    assert info.value.param == "private_key"
    assert info.value.value is None
    if isinstance(bad, str) and bad:
        assert bad not in str(info.value)


def test_bad_env_key_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = KEY_HEX[:-2] + "zz"
    monkeypatch.setenv("MY_KEY", secret)
    with pytest.raises(ValidationError) as info:
        Signer.from_env("MY_KEY")
    assert secret not in str(info.value)
    assert info.value.value is None


def test_the_key_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    signer = Signer(KEY_HEX)
    shown = [repr(signer), str(signer), f"{signer}", f"{signer!r}"]
    logging.getLogger("test").warning("signer %s %r", signer, signer)
    shown.append(caplog.text)
    for text in shown:
        assert KEY_HEX not in text.lower()
        assert signer.address in text
    assert not hasattr(signer, "__dict__")
    for attr in dir(signer):
        if not attr.startswith("_"):
            assert KEY_HEX not in str(getattr(signer, attr)).lower()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)


def test_signature_verifies_for_the_public_key() -> None:
    signer = Signer(KEY_HEX)
    raw = RawTransaction(
        AccountAddress.from_str(signer.address), 0,
        TransactionPayload(EntryFunction.natural("0x1::m", "f", [], [])), 1000, 100, 10**10, 4,
    )
    signed = signer.sign(raw)
    assert signed.verify()
    assert isinstance(signer.public_key, ed25519.PublicKey)


def test_repr_of_a_half_built_signer() -> None:
    class Failing(Signer):
        __slots__ = ()

        def __init__(self, private_key: str | bytes) -> None:
            raise RuntimeError("key store unavailable")

    half = Failing.__new__(Failing)
    assert repr(half) == "Signer(<no key>)"
    assert str(half) == "Signer(<no key>)"
    assert repr(Signer(KEY_HEX)) == f"Signer(address={EXPECTED})"
