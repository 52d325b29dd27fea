"""Order pipeline cost: client-side work per order, and orders/s end to end on the simulator.

    python benchmarks/order_pipeline.py [--orders 300] [--repeat 2000]

1. Client-side cost per order, in µs: validate against MarketInfo (lots, ticks, leverage),
   encode the REST payload from the module ABI, build and sign the transaction, hash it.
2. Orders per second end to end (validate, REST build, check, encode, sign, submit, wait for
   the commit) against the embedded simulator on 127.0.0.1 with 1, 10 and 50 orders in flight.
   Client and simulator share one process and event loop here, so the rate is bounded by the
   CPU both spend per order; more in flight hides latency but cannot add cores. Each row gets
   a fresh simulator, so that rows start from the same state.

Prints a table and saves JSON to ``benchmarks/results/order_pipeline.json``. ``measure(quick)``
gives ``run_all.py`` its ``orders.*`` figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.transactions import RawTransaction, TransactionPayload

from kana_async.aptos.abi import encode_entry_function
from kana_async.aptos.transactions import transaction_hash
from kana_async.models import MarketInfo, TxPayload, decoder
from kana_async.rest.kana import KanaRest
from kana_async.rest.session import RestSession
from kana_async.sim import contract
from kana_async.sim.aptos_node import make_node_app
from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.sim.kana_rest import make_rest_app
from kana_async.trade.node import NodeClient
from kana_async.trade.signer import Signer
from kana_async.trade.trader import Trader
from kana_async.units import check_leverage, price_to_ticks, size_to_lots

APT = 1338
RESULTS = Path(__file__).parent / "results" / "order_pipeline.json"


def _time_us(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 2),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1], 2),
    }


def client_side(repeat: int) -> dict[str, dict[str, float]]:
    engine = Engine(seed=0, market_maker=None)
    info = decoder(MarketInfo).decode(json.dumps(engine.market_info(APT)).encode())
    signer = Signer(secrets.token_bytes(32))
    sender = AccountAddress.from_str(signer.address)
    abi = contract.function_abi("place_limit_order")
    assert abi is not None
    module = f"{engine.package_address}::perpetual_scripts"
    payload = TxPayload(
        function=f"{module}::place_limit_order",
        function_arguments=["1338", True, False, "1500", "5100", "3", "0", "0", "0"],
    )

    def validate() -> object:
        return (size_to_lots(info, "1.5"), price_to_ticks(info, "5.1"), check_leverage(info, 3))

    def encode() -> object:
        return encode_entry_function(abi, module, payload)

    entry = encode_entry_function(abi, module, payload)

    def sign() -> object:
        raw = RawTransaction(sender, 7, TransactionPayload(entry), 20_000, 100,
                             int(time.time()) + 30, 4)
        body = signer.sign(raw).bytes()
        return transaction_hash(body)

    def all_three() -> object:
        validate()
        encoded = encode()
        raw = RawTransaction(sender, 7, TransactionPayload(encoded), 20_000, 100,
                             int(time.time()) + 30, 4)
        return transaction_hash(signer.sign(raw).bytes())

    return {
        "validate": _time_us(validate, repeat),
        "encode (ABI -> BCS)": _time_us(encode, repeat),
        "sign + serialize + hash": _time_us(sign, repeat),
        "total": _time_us(all_three, repeat),
    }


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def _orders_per_second(orders: int, in_flight: int) -> dict[str, float]:
    """One row, on a fresh simulator (a growing book would slow later rows)."""
    engine = Engine(seed=0, market_maker=None)
    faults = Faults()
    rest_runner, rest_url = await _serve(make_rest_app(engine, faults))
    node_runner, node_url = await _serve(make_node_app(engine, faults))
    try:
        async with aiohttp.ClientSession() as http:
            session = RestSession(rest_url, api_key="benchmark", session=http)
            trader = Trader(KanaRest(session), NodeClient(http, node_url + "/v1"),
                            Signer(secrets.token_bytes(32)), max_in_flight=in_flight)
            await trader.deposit("50000")
            await trader.place_limit_order(APT, True, False, "0.5", "2", 2)  # warm the caches
            gate = asyncio.Semaphore(in_flight)

            async def one(i: int) -> bool:
                async with gate:
                    price = Decimal("3") + Decimal("0.001") * (i % 1000)
                    result = await trader.place_limit_order(APT, True, False, "0.5", price, 2)
                    return bool(result.success)

            start = time.perf_counter()
            done = await asyncio.gather(*(one(i) for i in range(orders)))
            elapsed = time.perf_counter() - start
            await session.close()
    finally:
        await node_runner.cleanup()
        await rest_runner.cleanup()
    return {
        "orders": orders,
        "committed_ok": sum(done),
        "seconds": round(elapsed, 3),
        "orders_per_s": round(orders / elapsed, 1),
        "mean_latency_ms": round(elapsed / orders * in_flight * 1000, 2),
    }


async def end_to_end(orders: int, levels: tuple[int, ...]) -> dict[str, dict[str, float]]:
    return {str(level): await _orders_per_second(orders, level) for level in levels}


def measure(quick: bool) -> dict[str, Any]:
    """Client-side cost per order (median of the whole chain) and orders/s with 50 in flight."""
    repeat, orders = (300, 100) if quick else (2000, 300)
    client = client_side(repeat)
    e2e = asyncio.run(end_to_end(orders, (1, 10, 50)))
    return {
        "orders.client_cost_us": client["total"]["median_us"],
        "orders.per_s_50_inflight": e2e["50"]["orders_per_s"],
        "orders.detail": {"repeat": repeat, "orders": orders, "client_side": client,
                          "end_to_end": e2e},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders per concurrency level")
    parser.add_argument("--repeat", type=int, default=2000, help="client-side repetitions")
    args = parser.parse_args()
    orders = max(1, min(args.orders, 5000))
    repeat = max(10, min(args.repeat, 100_000))

    client = client_side(repeat)
    e2e = asyncio.run(end_to_end(orders, (1, 10, 50)))

    print(f"Client-side cost per limit order ({repeat} runs)")
    print(f"  {'step':<26}{'median µs':>12}{'p99 µs':>12}")
    for step, figures in client.items():
        print(f"  {step:<26}{figures['median_us']:>12.1f}{figures['p99_us']:>12.1f}")
    print(f"\nEnd to end against the simulator ({orders} limit orders per row)")
    print(f"  {'in flight':>9}{'orders/s':>12}{'seconds':>10}{'~latency ms':>13}{'ok':>7}")
    for level, row in e2e.items():
        print(f"  {level:>9}{row['orders_per_s']:>12.1f}{row['seconds']:>10.2f}"
              f"{row['mean_latency_ms']:>13.1f}{int(row['committed_ok']):>7}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "order_pipeline",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "client_side": client,
        "end_to_end": e2e,
    }, indent=2) + "\n")
    print(f"\nsaved {RESULTS}")


if __name__ == "__main__":
    main()
