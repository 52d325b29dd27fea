"""A strategy process for the signer tests: places N orders through a signer and prints each
outcome as one JSON line (``python -m tests.bus.strategy_process ...``).

Its first order is sent twice with the same idempotency key (a retried call): both lines must
tell the same outcome, and the chain must hold it once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal

import msgspec

from kana_async import KanaClient
from kana_async.bus.remote import RemoteTrader
from kana_async.trade.results import TxResult

APT = 1338


def line(kind: str, result: TxResult) -> str:
    return json.dumps({"kind": kind, "tx_hash": result.tx_hash, "success": result.success,
                       "sequence_number": result.sequence_number,
                       "order_ids": result.order_ids})


async def main(args: argparse.Namespace) -> None:
    base = Decimal(args.base_price)
    prices = [base + Decimal("0.001") * i for i in range(args.count)]
    # The first order through the raw call, twice with one key: a retried request.
    async with RemoteTrader(args.nats, network="local", address=args.account) as remote:
        key = f"{args.name}-first"
        call = [APT, True, False, "1", str(prices[0]), 2]
        first = msgspec.convert(await remote.call("place_limit_order", call, {}, key=key),
                                TxResult)
        again = msgspec.convert(await remote.call("place_limit_order", call, {}, key=key),
                                TxResult)
        print(line("retry-first", first), flush=True)
        print(line("retry-again", again), flush=True)
    # The rest through KanaClient, as a bot would, many in flight.
    async with KanaClient("local", rest_url=args.rest_url, ws_url=args.ws_url,
                          node_url=args.node_url, signer_url=args.nats,
                          signer_account=args.account) as kana:
        limit = asyncio.Semaphore(args.in_flight)

        async def place(price: Decimal) -> TxResult:
            async with limit:
                return await kana.place_limit_order(APT, True, False, "1", price, 2)

        for result in await asyncio.gather(*(place(p) for p in prices[1:])):
            print(line("order", result), flush=True)
        print(json.dumps({"kind": "in_doubt", "list": kana.in_doubt()}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for option in ("--nats", "--account", "--rest-url", "--ws-url", "--node-url", "--name",
                   "--base-price"):
        parser.add_argument(option, required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
