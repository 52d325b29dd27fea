"""markets, price and book against the simulator (embedded, or the shared one)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from kana_async import cli
from kana_async.cli import market


def test_markets_table_shows_each_markets_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["markets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "market", "size", "step", "min", "size", "price", "step",
                                "max", "lev.", "status"]
    apt = next(line for line in lines if line.startswith("1338"))
    assert apt.split() == ["1338", "APT/USDC", "0.001", "0.5", "0.001", "20x", "1"]
    assert len(lines) == 1 + 4


def test_markets_json_is_one_object_per_line_with_decimal_strings(
    capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    assert cli.main(["markets", "--json", *urls]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["market_id"] for row in rows] == [1338, 1339, 1340, 2387]
    apt = rows[0]
    assert apt["size_step"] == "0.001"
    assert apt["min_size"] == "0.5"
    assert apt["max_leverage"] == 20


@pytest.mark.parametrize("name", ["APT", "apt/usdc", "1338", "APT-USDC", "APT-USD"])
def test_price_by_id_or_name(name: str, capsys: pytest.CaptureFixture[str],
                             urls: list[str]) -> None:
    assert cli.main(["price", name, "--json", *urls]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    quote = json.loads(line)
    assert quote["market_id"] == 1338
    bid, ask = Decimal(quote["bid"]), Decimal(quote["ask"])
    assert bid < ask
    assert Decimal(quote["mid"]) == (bid + ask) / 2
    assert Decimal(quote["spread"]) == ask - bid


def test_price_text(capsys: pytest.CaptureFixture[str], urls: list[str]) -> None:
    assert cli.main(["price", "BTC", *urls]) == 0
    out = capsys.readouterr().out
    assert out.startswith("BTC/USDC (1339)  bid ")
    assert " spread " in out


def test_book_without_a_terminal_prints_plain_blocks(
    capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    assert cli.main(["book", "APT", "--depth", "3", "--duration", "0.4", "--interval", "0",
                     *urls]) == 0
    blocks = [b for b in capsys.readouterr().out.split("\n\n") if b.strip()]
    assert blocks
    lines = blocks[0].splitlines()
    assert lines[0].startswith("APT/USDC (1338) at ")
    assert "mid" in lines[0]
    assert lines[1].split() == ["bid", "size", "bid", "|", "ask", "ask", "size"]
    assert len(lines) == 2 + 3
    bid, ask = lines[2].split("|")
    assert Decimal(bid.split()[1]) < Decimal(ask.split()[0])


def test_book_on_a_terminal_draws_the_live_view(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    monkeypatch.setattr(market, "is_terminal", lambda stream: True)
    assert cli.main(["book", "APT", "--depth", "2", "--duration", "0.3", *urls]) == 0
    out = capsys.readouterr().out
    assert "APT/USDC (1338)" in out
    assert "spread" in out


def test_prices_are_shown_on_the_tick(capsys: pytest.CaptureFixture[str],
                                      urls: list[str]) -> None:
    # BTC's tick is 1 USD: the wire's "94896.0" is shown "94896".
    assert cli.main(["price", "BTC", "--json", *urls]) == 0
    quote = json.loads(capsys.readouterr().out)
    for name in ("bid", "ask", "spread", "last"):
        if quote[name] is not None:
            assert "." not in quote[name], quote
    assert cli.main(["book", "BTC", "--depth", "3", "--duration", "0.4", "--interval", "0",
                     *urls]) == 0
    block = capsys.readouterr().out.split("\n\n")[0]
    assert ".0 " not in block, block
    assert not block.splitlines()[0].endswith(".0"), block


def test_the_live_book_lines_prices_up_on_the_tick(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    monkeypatch.setattr(market, "is_terminal", lambda stream: True)
    assert cli.main(["book", "BTC", "--depth", "5", "--duration", "0.3", *urls]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\d\d,\d{3}\b", out), out  # a price, in whole dollars (tick 1)
    assert not re.search(r"\d\d,\d{3}\.\d", out), out  # not the wire's 94896.0
