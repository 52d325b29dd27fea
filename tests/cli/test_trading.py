"""place, cancel, deposit and withdraw against the shared simulator: confirmation first,
input checked before anything is signed, outcomes in one line."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from typing import Any

import msgspec
import pytest

from kana_async import cli
from kana_async.cli.trading import _sign_all, _Transaction
from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.models import MarketInfo
from kana_async.sim import Simulator
from kana_async.trade import TxResult
from tests.conftest import load_fixture, local_client


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the user's answer typed in."""

    def isatty(self) -> bool:
        return True


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def open_orders(capsys: pytest.CaptureFixture[str], urls: list[str]) -> list[dict[str, Any]]:
    status, out, _ = run(capsys, "orders", "--json", *urls)
    assert status == 0
    return [json.loads(line) for line in out.splitlines()]


LIMIT = ["place", "--market", "APT", "--side", "long", "--size", "1", "--price", "4.000",
         "--leverage", "2", "--post-only"]


@pytest.fixture
def funded(capsys: pytest.CaptureFixture[str], urls: list[str], wallet: str) -> str:
    status, out, _ = run(capsys, "deposit", "1000", "--yes", *urls)
    assert status == 0, out
    assert out.startswith("confirmed in ")
    assert "deposit 1000" in out
    return wallet


def test_limit_order_rests_then_is_cancelled_by_id(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, out, err = run(capsys, *LIMIT, "--yes", *urls)
    assert status == 0, err
    assert "open long 1 APT/USDC limit @ 4.000 (post-only) leverage 2x" in out
    assert "tx 0x" in out
    (order,) = open_orders(capsys, urls)
    assert (order["price"], order["remaining_size"]) == ("4.000", "1.000")

    status, out, err = run(capsys, "cancel", "--market", "1338", "--order-id",
                           order["order_id"], "--side", "long", "--yes", *urls)
    assert status == 0, err
    assert f"cancel 1 order(s) on APT/USDC: {order['order_id']} (long)" in out
    assert open_orders(capsys, urls) == []


def test_cancel_by_id_finds_the_side(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, _, err = run(capsys, *LIMIT, "--yes", *urls)
    assert status == 0, err
    (order,) = open_orders(capsys, urls)
    status, out, err = run(capsys, "cancel", "--market", "APT", "--order-id", "12345", "--yes",
                           *urls)
    assert status == 1
    assert "not an open order of the signer in market 1338" in err
    status, out, err = run(capsys, "cancel", "--market", "APT", "--order-id",
                           order["order_id"], "--yes", *urls)
    assert status == 0, err
    assert f"cancel 1 order(s) on APT/USDC: {order['order_id']} (long)" in out
    assert open_orders(capsys, urls) == []


def test_cancel_all_finds_each_orders_side(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    assert run(capsys, *LIMIT, "--yes", *urls)[0] == 0
    short = ["place", "--market", "APT", "--side", "short", "--size", "0.5", "--price", "9.000",
             "--leverage", "2", "--yes"]
    assert run(capsys, *short, *urls)[0] == 0
    assert len(open_orders(capsys, urls)) == 2
    status, out, err = run(capsys, "cancel", "--all", "--yes", "--json", *urls)
    assert status == 0, err
    (outcome,) = [json.loads(line) for line in out.splitlines()]
    assert outcome["success"] is True
    assert "(long)" in outcome["action"]
    assert "(short)" in outcome["action"]
    assert open_orders(capsys, urls) == []
    status, out, _ = run(capsys, "cancel", "--all", "--yes", *urls)
    assert (status, out.strip()) == (0, "nothing to cancel: no resting order")


def test_market_order_with_tp_sl_opens_a_position(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, out, err = run(capsys, "place", "--market", "APT", "--side", "long", "--size",
                           "0.5", "--leverage", "3", "--tp", "9", "--sl", "2", "--yes",
                           "--json", *urls)
    assert status == 0, err
    (outcome,) = [json.loads(line) for line in out.splitlines()]
    assert outcome["action"] == "open long 0.5 APT/USDC at market leverage 3x TP 9 SL 2"
    assert outcome["success"] is True
    assert outcome["tx_hash"].startswith("0x")
    status, out, _ = run(capsys, "positions", "--json", *urls)
    (position,) = [json.loads(line) for line in out.splitlines()]
    assert (position["size"], position["trade_side"], position["leverage"]) == ("0.500", True, 3)
    assert (position["tp"], position["sl"]) == ("9.000", "2.000")


def test_no_confirmation_without_a_terminal_and_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], urls: list[str],
    funded: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped, not a terminal
    status, out, err = run(capsys, *LIMIT, *urls)
    assert status == 1
    assert err.strip() == ("kana-async: error: refusing to sign without confirmation: stdin "
                           "is not a terminal (pass --yes to sign anyway)")
    assert out == ""
    assert open_orders(capsys, urls) == []


@pytest.mark.parametrize(("answer", "signed"), [("y\n", True), ("yes\n", True), ("n\n", False),
                                                ("\n", False)])
def test_a_terminal_is_asked_first(
    answer: str, signed: bool, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str,
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    status, _, err = run(capsys, *LIMIT, *urls)
    assert "open long 1 APT/USDC limit @ 4.000 (post-only)" in err
    assert "Sign and send? [y/N]" in err
    assert len(open_orders(capsys, urls)) == (1 if signed else 0)
    if signed:
        assert status == 0
    else:
        assert status == 1
        assert err.rstrip().endswith("kana-async: error: cancelled: nothing was signed")


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (["--size", "1.0001"], "--size: must be a multiple of the lot size 0.001"),
        (["--size", "0.1"], "--size:"),
        (["--price", "4.0005"], "--price:"),
        (["--leverage", "21"], "--leverage: must be between 1 and max_leverage 20"),
        (["--tp", "5.0001"], "--tp:"),
    ],
)
def test_input_off_the_market_grid_is_refused_before_asking(
    change: list[str], complaint: str, capsys: pytest.CaptureFixture[str], urls: list[str],
    funded: str,
) -> None:
    argv = [*LIMIT, "--tp", "6"]
    index = argv.index(change[0])
    argv[index + 1] = change[1]
    status, _, err = run(capsys, *argv, *urls)  # no --yes: the check comes before the question
    assert status == 2
    (line,) = err.splitlines()
    assert line.startswith("kana-async: error: ")
    assert complaint in line
    assert open_orders(capsys, urls) == []


def test_restriction_without_a_price_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, _, err = run(capsys, "place", "--market", "APT", "--side", "long", "--size", "1",
                         "--leverage", "2", "--restriction", "2", "--yes", *urls)
    assert status == 2
    assert "apply to limit orders: give --price" in err


def test_a_transaction_that_fails_on_chain_names_its_hash(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    # Closing a position that does not exist aborts on chain.
    status, out, err = run(capsys, "place", "--market", "APT", "--side", "short", "--close",
                           "--size", "1", "--leverage", "2", "--yes", *urls)
    assert status == 1
    (line,) = err.splitlines()
    assert line.startswith("kana-async: error: close short 1 APT/USDC at market")
    assert ": transaction 0x" in line
    assert " failed: " in line
    assert out == ""


def test_withdraw_and_no_wait(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, out, err = run(capsys, "withdraw", "--market", "APT", "10", "--yes", *urls)
    assert status == 0, err
    assert "withdraw 10 from APT/USDC" in out
    status, out, err = run(capsys, "deposit", "5", "--yes", "--no-wait", *urls)
    assert status == 0, err
    assert out.startswith("sent: deposit 5")
    assert "not waiting for the confirmation" in out


def test_without_a_key_the_simulator_gets_a_throwaway_wallet(
    capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    status, out, err = run(capsys, "deposit", "10", "--yes", *urls)
    assert status == 0, err
    assert "no $KANA_PRIVATE_KEY: signing with a new throwaway wallet 0x" in err
    assert "deposit 10" in out


def test_the_key_never_appears_in_any_output(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, out, err = run(capsys, *LIMIT, "--yes", "--json", *urls)
    assert status == 0
    assert funded not in out + err
    assert funded[2:] not in out + err


def test_place_shows_the_id_of_the_order_it_placed(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, out, err = run(capsys, *LIMIT, "--yes", *urls)
    assert status == 0, err
    (order,) = open_orders(capsys, urls)
    assert out.splitlines()[-1] == f"  order {order['order_id']}: resting"
    status, out, err = run(capsys, *LIMIT, "--yes", "--json", *urls)
    (outcome,) = [json.loads(line) for line in out.splitlines()]
    second = [o for o in open_orders(capsys, urls) if o["order_id"] != order["order_id"]]
    assert outcome["order_ids"] == [second[0]["order_id"]]
    assert outcome["cancelled_order_ids"] == []


def test_a_market_order_shows_its_fills(
    capsys: pytest.CaptureFixture[str], urls: list[str], funded: str
) -> None:
    status, out, err = run(capsys, "place", "--market", "APT", "--side", "short", "--size",
                           "0.5", "--leverage", "2", "--yes", *urls)
    assert status == 0, err
    line = out.splitlines()[-1]
    assert line.startswith("  order ")
    assert ": filled " in line
    assert " @ " in line
    assert "cancelled" not in line  # the market maker's book is deep enough
    status, out, _ = run(capsys, "positions", "--json", *urls)
    (position,) = [json.loads(line) for line in out.splitlines()]
    assert position["size"] == "0.500"


def _fill(taker: str, lots: int, ticks: int, maker: int = 0) -> dict[str, Any]:
    return {"type": f"{KANA_PACKAGE_ADDRESS}::perpetual_core::FillEvent", "data": {
        "market_id": "1338", "size": str(lots), "price": str(ticks),
        "maker_order_id": str(100 + maker), "taker_order_id": taker}}


def _event(name: str, order_id: str) -> dict[str, Any]:
    return {"type": f"{KANA_PACKAGE_ADDRESS}::perpetual_core::{name}",
            "data": {"order_id": order_id}}


def test_placed_orders_are_summed_up_in_one_line_each() -> None:
    from kana_async.cli.trading import _placed

    body = load_fixture("rest_getMarketInfo.json")["examples"][0]["body"]
    info = msgspec.convert(body["data"][0], MarketInfo, strict=False)  # lot 0.001, tick 0.001
    tx = {"type": "user_transaction", "hash": "0x01", "sequence_number": "1", "success": True,
          "events": [
              _event("PlaceOrderEvent", "1"), _fill("1", 500, 5700), _fill("1", 250, 5701, 1),
              _event("PlaceOrderEvent", "2"), *(_fill("2", 100, 5702, m) for m in range(4)),
              _event("CancelOrderEvent", "2"),
              _event("PlaceOrderEvent", "3"), _event("CancelOrderEvent", "3"),
              _event("PlaceOrderEvent", "4"), _fill("4", 1000, 5700),
              _event("PlaceOrderEvent", "5"),
          ]}
    assert _placed(info, 1000, TxResult.from_node(tx)) == [
        "order 1: filled 0.5 @ 5.700, 0.25 @ 5.701; 0.25 resting",
        "order 2: filled 0.4 in 4 fills; the rest was cancelled",
        "order 3: nothing filled, cancelled",
        "order 4: filled 1 @ 5.700",
        "order 5: resting",
    ]


# -- the documented path without a key -------------------------------------------------------


def test_place_without_a_key_on_the_embedded_simulator_works(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/cli.md: with no connection option and no key, trying `place` works: the
    throwaway wallet deposits what the order needs first."""
    status, out, err = run(capsys, "place", "--market", "APT", "--side", "long", "--size",
                           "1", "--price", "5.000", "--leverage", "2", "--post-only", "--yes")
    assert status == 0, err
    assert "signing with a new throwaway wallet" in err
    lines = out.splitlines()
    assert lines[0].startswith("confirmed in ")
    assert lines[0].endswith("deposit 2.55 USDC (a throwaway wallet's trading account is "
                             "empty)"), out
    assert any(line.startswith("confirmed in ") and line.endswith(
        "open long 1 APT/USDC limit @ 5.000 (post-only) leverage 2x") for line in lines), out
    assert "resting" in out


def test_a_market_order_without_a_key_deposits_at_the_far_side_of_the_book(
    capsys: pytest.CaptureFixture[str], urls: list[str],
) -> None:
    status, out, err = run(capsys, "place", "--market", "APT", "--side", "short", "--size",
                           "0.5", "--leverage", "3", "--yes", *urls)
    assert status == 0, err
    assert "deposit " in out
    assert "filled 0.5" in out


def test_without_collateral_the_failure_says_to_deposit(
    capsys: pytest.CaptureFixture[str], urls: list[str], wallet: str,
) -> None:
    status, _, err = run(capsys, *LIMIT, "--yes", *urls)
    assert status == 1
    assert "INSUFFICIENT_BALANCE" in err
    assert "'kana-async deposit AMOUNT' moves it into the trading account" in err


async def test_an_interrupted_submission_names_the_transaction_that_may_still_execute(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = argparse.Namespace(network="local", local_port=None, yes=True, json=False,
                              no_wait=False)
    async with Simulator(seed=3, market_maker=None, step_interval=None) as sim, \
            local_client(sim, "66" * 32) as kana:
        sim.faults.hang_next_submissions(1)
        deposit = _Transaction("deposit 5", lambda k, wait: k.deposit(5, wait=wait))
        task = asyncio.create_task(_sign_all(args, kana, [deposit]))
        for _ in range(500):
            if kana.in_doubt():
                break
            await asyncio.sleep(0.01)
        [tx_hash] = kana.in_doubt()
        task.cancel()  # Ctrl-C while the node holds the submission
        with pytest.raises(asyncio.CancelledError):
            await task
    err = capsys.readouterr().err
    assert f"interrupted: transaction {tx_hash} may still execute" in err
