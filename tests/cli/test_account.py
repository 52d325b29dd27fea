"""positions and orders: your wallet (the key in the environment) or any other (--address)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from kana_async import cli
from kana_async.cli.account import order_side
from kana_async.trade import Signer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return status, captured.out


@pytest.fixture
def trader(capsys: pytest.CaptureFixture[str], urls: list[str], wallet: str) -> str:
    """A wallet with a long position on APT and a resting short order."""
    run(capsys, "deposit", "500", "--yes", *urls)
    run(capsys, "place", "--market", "APT", "--side", "long", "--size", "2", "--leverage", "2",
        "--yes", *urls)
    run(capsys, "place", "--market", "APT", "--side", "short", "--size", "1", "--price",
        "9.000", "--leverage", "2", "--yes", *urls)
    return Signer(wallet).address


def test_positions_table_values_the_position_at_the_mid(
    capsys: pytest.CaptureFixture[str], urls: list[str], trader: str
) -> None:
    _, out = run(capsys, "positions", *urls)
    header, row = out.splitlines()
    assert header.split() == ["market", "side", "size", "entry", "mark", "upnl", "margin",
                              "lev.", "liq", "tp", "sl"]
    cells = row.split()
    assert cells[:3] == ["1338", "long", "2.000"]
    entry, mark, pnl = (Decimal(c) for c in cells[3:6])
    assert pnl == (mark - entry) * 2


def test_orders_table_shows_the_side(
    capsys: pytest.CaptureFixture[str], urls: list[str], trader: str
) -> None:
    _, out = run(capsys, "orders", "--market", "APT", *urls)
    header, row = out.splitlines()
    assert header.split() == ["market", "order", "id", "side", "price", "remaining", "size",
                              "lev."]
    cells = row.split()
    assert (cells[0], cells[2], cells[3], cells[4]) == ("1338", "short", "9.000", "1.000")


def test_another_wallet_by_address(
    capsys: pytest.CaptureFixture[str], urls: list[str], trader: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KANA_PRIVATE_KEY")
    _, out = run(capsys, "positions", "--json", "--address", trader, *urls)
    (position,) = [json.loads(line) for line in out.splitlines()]
    assert position["size"] == "2.000"
    _, out = run(capsys, "orders", "--json", "--address", trader, "--market", "BTC", *urls)
    assert out == ""
    _, out = run(capsys, "positions", "--address", "0x" + "5" * 64, *urls)
    assert out.splitlines()[1:] == []


def test_on_a_terminal_the_views_are_used(
    capsys: pytest.CaptureFixture[str], urls: list[str], trader: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kana_async.cli import account

    monkeypatch.setattr(account, "is_terminal", lambda stream: True)
    _, out = run(capsys, "positions", *urls)
    assert f"Positions of {trader[:6]}…{trader[-4:]}" in out
    assert "uPnL" in out
    _, out = run(capsys, "orders", *urls)
    assert f"Open orders of {trader[:6]}…" in out


@pytest.mark.parametrize(("order_type", "side"), [(1, "long"), (2, "short"), (3, "long"),
                                                  (4, "short")])
def test_order_side_from_order_type(order_type: int, side: str) -> None:
    assert order_side(order_type) == side


def test_the_positions_view_fits_the_terminal_and_shows_the_grid(
    capsys: pytest.CaptureFixture[str], urls: list[str], trader: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kana_async.cli import account

    monkeypatch.setattr(account, "is_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "80")
    _, out = run(capsys, "positions", *urls)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    (row,) = [line for line in lines if " long " in line]
    cells = row.split()
    assert cells[:3] == ["APT", "long", "2.000"], row
    margin = cells[6]
    assert re.fullmatch(r"\d+\.\d{6}", margin), row  # USDC has 6 decimals
    for price in cells[3:5]:
        assert re.fullmatch(r"\d+\.\d{3}", price), row  # APT's tick is 0.001
