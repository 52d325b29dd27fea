"""Trading end to end against the simulator: validate, build, check, encode, sign, submit."""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

import kana_async.trade
from kana_async.errors import UnknownOutcomeError, ValidationError
from kana_async.models import TxPayload
from kana_async.orders import Terms
from kana_async.rest.kana import KanaRest
from kana_async.rest.session import RestSession
from kana_async.sim import Simulator
from kana_async.sim.aptos_node import NODE_KEY, AptosNode, make_node_app
from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.sim.kana_rest import make_rest_app
from kana_async.trade.node import NodeClient, TransactionRejectedError
from kana_async.trade.signer import Signer
from kana_async.trade.trader import PayloadMismatchError, Trader

APT = 1338


@dataclass
class Exchange:
    engine: Engine
    faults: Faults
    node: AptosNode
    rest: KanaRest
    client: NodeClient
    keys: list[str] = field(default_factory=list)
    new_trader: Callable[..., Trader] = field(init=False)


@pytest.fixture
async def exchange() -> AsyncIterator[Exchange]:
    engine = Engine(seed=7, market_maker=None)
    faults = Faults()
    rest_server = TestServer(make_rest_app(engine, faults))
    node_server = TestServer(make_node_app(engine, faults))
    await rest_server.start_server()
    await node_server.start_server()
    async with aiohttp.ClientSession() as http:
        session = RestSession(str(rest_server.make_url("")), api_key="test-key", session=http)
        rest = KanaRest(session)
        client = NodeClient(http, str(node_server.make_url("/v1")), timeout=5)
        ex = Exchange(engine, faults, node_server.app[NODE_KEY], rest, client)

        def new_trader(key: str | None = None, **options: Any) -> Trader:
            key = key or "0x" + secrets.token_hex(32)
            ex.keys.append(key)
            return Trader(rest, client, Signer(key), **options)

        ex.new_trader = new_trader
        yield ex
        await session.close()
    await node_server.close()
    await rest_server.close()


async def funded(exchange: Exchange, amount: str = "1000", **options: object) -> Trader:
    trader = exchange.new_trader(**options)
    result = await trader.deposit(amount)
    assert result.success is True
    return trader


async def test_deposit_and_withdraw(exchange: Exchange) -> None:
    trader = await funded(exchange, "250.5")
    assert exchange.engine.profile_balance(trader.address) == Decimal("250.5")
    result = await trader.withdraw(APT, "50")
    assert result.success is True
    assert exchange.engine.profile_balance(trader.address) == Decimal("200.5")
    assert exchange.engine.wallet_balance(trader.address) == Decimal("99799.5")


async def test_limit_order_rests_and_shows_everywhere(exchange: Exchange) -> None:
    trader = await funded(exchange)
    result = await trader.place_limit_order(APT, True, False, "1.5", "5.1", 3)
    assert result.success is True
    profile = exchange.engine.profile_address(trader.address)
    [order] = exchange.engine.open_orders(profile, APT)
    assert Decimal(order["price"]) == Decimal("5.1")
    assert Decimal(order["total_size"]) == Decimal("1.5")
    book = exchange.engine.orderbook(APT)
    assert any(Decimal(str(level["price"])) == Decimal("5.1") for level in book)
    via_rest = await exchange.rest.get_open_orders(trader.address, APT)
    assert [o.order_id for o in via_rest] == [order["order_id"]]
    cancel = await trader.cancel_multiple_orders(APT, [order["order_id"]], [True])
    assert cancel.success is True
    assert exchange.engine.open_orders(profile, APT) == []


async def test_crossing_market_order_fills_then_position_management(exchange: Exchange) -> None:
    maker = await funded(exchange)
    taker = await funded(exchange)
    rest = await maker.place_limit_order(APT, False, False, "2", "5.7", 5)  # open short, ask
    assert rest.success is True
    fill = await taker.place_market_order(APT, True, False, "2", 5)  # open long, takes it
    assert fill.success is True
    taker_profile = exchange.engine.profile_address(taker.address)
    [position] = exchange.engine.positions(taker_profile, APT)
    assert Decimal(position["size"]) == Decimal(2)
    assert Decimal(position["entry_price"]) == Decimal("5.7")
    assert exchange.engine.trade_history(taker_profile, APT)
    assert exchange.engine.trade_history(exchange.engine.profile_address(maker.address), APT)
    assert (await taker.update_take_profit(APT, True, "6.5")).success is True
    assert (await taker.update_stop_loss(APT, True, "5.2")).success is True
    [position] = exchange.engine.positions(taker_profile, APT)
    assert Decimal(str(position["tp"])) == Decimal("6.5")
    assert Decimal(str(position["sl"])) == Decimal("5.2")
    margin_before = Decimal(position["margin"])
    assert (await taker.add_margin(APT, True, "10")).success is True
    [position] = exchange.engine.positions(taker_profile, APT)
    assert Decimal(position["margin"]) == margin_before + 10
    await maker.place_limit_order(APT, True, False, "2", "5.6", 5)  # a bid to close into
    assert (await taker.collapse_position(APT)).success is True
    assert exchange.engine.positions(taker_profile, APT) == []
    assert (await taker.settle_pnl(APT)).success is True


async def test_batch_place_and_cancel_and_place(exchange: Exchange) -> None:
    trader = await funded(exchange)
    placed = await trader.place_multiple_orders(
        APT, [True, True], [True, False], [False, False], ["0.5", "0.6"], ["5.0", "6.2"], [2, 2],
    )
    assert placed.success is True
    profile = exchange.engine.profile_address(trader.address)
    orders = {Decimal(o["price"]): o for o in exchange.engine.open_orders(profile, APT)}
    assert set(orders) == {Decimal("5.0"), Decimal("6.2")}
    swapped = await trader.cancel_and_place_multiple_orders(
        APT, [orders[Decimal("5.0")]["order_id"]], [True],
        [True], [True], [False], ["0.7"], ["5.05"], [2],
    )
    assert swapped.success is True
    prices = sorted(Decimal(o["price"]) for o in exchange.engine.open_orders(profile, APT))
    assert prices == [Decimal("5.05"), Decimal("6.2")]


async def test_fifty_concurrent_orders_from_one_account(exchange: Exchange) -> None:
    trader = await funded(exchange)
    results = await asyncio.gather(*(
        trader.place_limit_order(APT, True, False, "0.5", Decimal("4") + Decimal("0.01") * i, 2)
        for i in range(50)
    ))
    assert all(r.success for r in results)
    assert len({r.sequence_number for r in results}) == 50
    profile = exchange.engine.profile_address(trader.address)
    assert len(exchange.engine.open_order_ids(profile, APT)) == 50


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda t: t.place_limit_order(APT, True, False, "1", "5.1234", 2), "price"),
        (lambda t: t.place_limit_order(APT, True, False, "0.4", "5.1", 2), "size"),
        (lambda t: t.place_limit_order(APT, True, False, "1", "5.1", 21), "leverage"),
        (lambda t: t.place_limit_order(APT, "yes", False, "1", "5.1", 2), "trade_side"),
        (lambda t: t.place_market_order(APT, True, False, "1", 2, take_profit="6.0001"),
         "take_profit"),
        (lambda t: t.deposit("1.0000001"), "amount"),
        (lambda t: t.add_margin(APT, True, "-1"), "amount"),
        (lambda t: t.cancel_multiple_orders(APT, ["1", "2"], [True]), "order_ids"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_sent(
    exchange: Exchange, call: object, param: str
) -> None:
    trader = exchange.new_trader()
    with pytest.raises(ValidationError) as info:
        await call(trader)  # type: ignore[operator]
    assert param in info.value.param
    assert exchange.node.submissions == 0


async def test_a_node_rejection_names_the_cause_and_changes_nothing(exchange: Exchange) -> None:
    trader = exchange.new_trader(max_gas_amount=2_000_000, gas_unit_price=1_000)
    with pytest.raises(TransactionRejectedError) as info:
        await trader.deposit("10")
    assert info.value.vm_status == "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE"
    assert exchange.engine.profile_balance(trader.address) == 0


async def test_a_failed_transaction_is_returned_with_its_reason(exchange: Exchange) -> None:
    trader = await funded(exchange, "1")
    result = await trader.place_limit_order(APT, True, False, "100", "5", 1)  # needs ~500 USD
    assert result.committed
    assert result.success is False
    assert "Move abort" in result.vm_status


async def test_payload_for_another_function_is_refused(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    trader = exchange.new_trader()
    wrong = TxPayload(
        function=f"{trader.package_address}::perpetual_scripts::withdraw_specific_market",
        function_arguments=[trader.address, "1338", "1000000"],
    )

    async def evil(terms: Terms) -> TxPayload:
        return wrong

    monkeypatch.setattr(exchange.rest, "transaction", evil)
    with pytest.raises(PayloadMismatchError, match=r"expected .*::perpetual_scripts::deposit"):
        await trader.deposit("10")
    assert exchange.node.submissions == 0


async def test_payload_with_other_numbers_is_refused(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    trader = await funded(exchange)
    real = exchange.rest.transaction

    async def tampered(terms: Terms) -> TxPayload:
        payload = await real(terms)
        args_ = list(payload.function_arguments)
        args_[3] = str(int(args_[3]) * 10)  # ten times the size
        return TxPayload(function=payload.function, function_arguments=args_)

    monkeypatch.setattr(exchange.rest, "transaction", tampered)
    before = exchange.node.submissions
    with pytest.raises(PayloadMismatchError, match="argument 3 is 15000, expected 1500"):
        await trader.place_limit_order(APT, True, False, "1.5", "5.1", 3)
    assert exchange.node.submissions == before


async def test_unknown_outcome_then_resolve(exchange: Exchange) -> None:
    trader = await funded(exchange, submit_timeout=0.3)
    exchange.faults.hang_next_submissions(1)
    before = exchange.node.submissions
    with pytest.raises(UnknownOutcomeError) as info:
        await trader.place_limit_order(APT, True, False, "1", "5.2", 2)
    assert exchange.node.submissions == before + 1  # sent once, never again
    result = await trader.resolve(info.value.tx_hash)
    assert result.success is True
    profile = exchange.engine.profile_address(trader.address)
    assert len(exchange.engine.open_orders(profile, APT)) == 1


async def test_wait_false(exchange: Exchange) -> None:
    trader = await funded(exchange)
    pending = await trader.place_limit_order(APT, True, False, "1", "5.2", 2, wait=False)
    assert pending.success is None
    assert (await trader.wait(pending.tx_hash)).success is True


async def test_secrets_never_show(exchange: Exchange, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    trader = await funded(exchange, submit_timeout=0.3)
    key = exchange.keys[-1][2:]
    texts = [repr(trader), str(trader), repr(trader.submitter.__dict__)]
    exchange.faults.hang_next_submissions(1)
    with pytest.raises(UnknownOutcomeError) as unknown:
        await trader.deposit("1")
    texts.append(str(unknown.value))
    with pytest.raises(ValidationError) as invalid:
        await trader.place_limit_order(APT, True, False, "1", "5.0001", 2)
    texts.append(str(invalid.value))
    texts.append(caplog.text)
    for text in texts:
        assert key not in text.lower()


async def test_against_the_full_simulator_with_its_market_maker() -> None:
    """The packaged Simulator (background market maker running): a crossing order fills."""
    async with Simulator(step_interval=0.02) as sim, aiohttp.ClientSession() as http:
        session = RestSession(str(sim.rest_url), api_key="test-key", session=http)
        rest = KanaRest(session)
        trader = Trader(rest, NodeClient(http, str(sim.node_url)),
                        Signer("0x" + secrets.token_hex(32)), chain_id=4)
        assert (await trader.deposit("500")).success is True
        for _ in range(100):  # the market maker quotes within a few steps
            price = await rest.get_market_price(APT)
            if price.best_ask_price is not None:
                break
            await asyncio.sleep(0.02)
        result = await trader.place_market_order(APT, True, False, "1", 5)
        assert result.success is True
        profile = sim.engine.profile_address(trader.address)
        # The market maker's orders are the makers: the events name them too.
        assert result.fills
        assert {f.taker for f in result.fills} == {profile}
        assert all(f.maker != profile and f.maker_order_id for f in result.fills)
        assert sum(f.lots for f in result.fills) == 1000
        [position] = await rest.get_positions(trader.address, APT)
        assert position.size == Decimal(1)
        assert sim.engine.positions(profile, APT)
        await session.close()


# -- what a transaction reports --------------------------------------------------------------


async def test_results_name_the_orders_placed_cancelled_and_filled(exchange: Exchange) -> None:
    maker = await funded(exchange)
    taker = await funded(exchange)
    quotes = await maker.place_multiple_orders(
        APT, [True, True], [False, True], [False, False], ["1", "1"], ["5.7", "5.1"], [5, 5])
    maker_profile = exchange.engine.profile_address(maker.address)
    assert quotes.order_ids == exchange.engine.open_order_ids(maker_profile, APT)
    assert len(quotes.order_ids) == 2
    ask, bid = quotes.order_ids
    taken = await taker.place_market_order(APT, True, False, "1.5", 5)  # takes 1 of the ask
    [order_id] = taken.order_ids
    [fill] = taken.fills
    assert (fill.taker_order_id, fill.maker_order_id) == (order_id, ask)
    assert (fill.lots, fill.ticks, fill.maker_is_ask) == (1000, 5700, True)
    assert taken.cancelled_order_ids == [order_id]  # the unfilled half of a market order
    cancelled = await maker.cancel_multiple_orders(APT, [bid], [True])
    assert (cancelled.cancelled_order_ids, cancelled.order_ids) == ([bid], [])


async def test_a_failed_or_unwaited_transaction_names_no_orders(exchange: Exchange) -> None:
    trader = await funded(exchange)
    failed = await trader.place_limit_order(APT, True, False, "1", "5", 2, restriction=1)
    assert failed.success is False  # fill-or-abort against an empty book
    assert (failed.order_ids, failed.events) == ([], ())
    sent = await trader.place_limit_order(APT, True, False, "1", "5", 2, wait=False)
    assert sent.order_ids == []
    done = await trader.wait(sent.tx_hash)
    profile = exchange.engine.profile_address(trader.address)
    assert done.order_ids == exchange.engine.open_order_ids(profile, APT)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.place_multiple_orders(APT, [True], [True], [False], ["1"], [None], [2]),
         "prices[0]: a limit order needs a price > 0"),
        (lambda t: t.place_multiple_orders(APT, [], [], [], [], [], []),
         "order_types: must contain at least one order"),
        (lambda t: t.place_multiple_orders(APT, [True], [True], [False], ["1", "2"], ["5"], [2]),
         "order_types: all order lists must have the same length (order_types=1, "
         "trade_sides=1, directions=1, sizes=2, prices=1, leverages=1)"),
    ],
)
async def test_the_trader_and_the_rest_builder_word_a_rule_alike(
    exchange: Exchange, call: object, message: str
) -> None:
    said = []
    for target in (exchange.new_trader(), exchange.rest):
        with pytest.raises(ValidationError) as info:
            await call(target)  # type: ignore[operator]
        said.append(str(info.value))
    assert said == [message, message]
    assert exchange.node.submissions == 0


def test_trade_does_not_import_rest() -> None:
    package = Path(kana_async.trade.__file__).parent
    for module in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not re.match(r"(\.\.|kana_async\.)rest\b", name), (module.name, name)
