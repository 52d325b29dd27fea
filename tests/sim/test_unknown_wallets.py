"""Looking at a wallet costs the simulator nothing: a wallet it has never seen answers as the
faucet would fund it, and its state is created by its first transaction."""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

import aiohttp
from aptos_sdk.account import Account
from aptos_sdk.bcs import Serializer
from aptos_sdk.transactions import (
    EntryFunction,
    RawTransaction,
    SignedTransaction,
    TransactionArgument,
    TransactionPayload,
)

from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.sim import Simulator
from kana_async.sim.engine import Engine
from tests.sim.conftest import APT, Clock
from tests.sim.test_kana_rest import QUERIES

HEADERS = {"x-api-key": "test"}
#: Every GET endpoint that takes a wallet address, with its other parameters.
ADDRESS_QUERIES = {path: params for path, params in QUERIES.items()
                   if "userAddress" in params and not any(
                       word in path for word in ("deposit", "withdraw", "Withdraw", "settle"))}


def random_wallets(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"0x{rng.getrandbits(256):064x}" for _ in range(count)]


def look_at(engine: Engine, wallet: str) -> list[Any]:
    """Everything a REST or WebSocket client can ask about one wallet."""
    profile = engine.profile_address(wallet)
    return [
        engine.wallet_balance(wallet), engine.profile_balance(wallet),
        engine.net_profile_balance(wallet), engine.pending_balance(wallet, APT),
        engine.apt_balance(wallet), engine.positions(profile), engine.open_orders(profile),
        engine.open_order_ids(profile, APT), engine.order_history(profile),
        engine.trade_history(profile), engine.deposit_withdraw_history(profile),
        engine.funding_history(profile), engine.fills(APT, 0, 2e9, profile=profile),
    ]


def test_ten_thousand_queries_of_unknown_wallets_store_nothing() -> None:
    engine = Engine(seed=1, clock=Clock(), market_maker=None)
    accounts, histories = engine.stored_accounts, len(engine._history)
    fresh = [Decimal(100_000), Decimal(0), Decimal(0), Decimal(0), Decimal(10),
             [], [], [], [], [], [], [], []]
    for wallet in random_wallets(10_000):
        assert look_at(engine, wallet) == fresh
    assert engine.stored_accounts == accounts
    assert len(engine._history) == histories
    assert engine.audit().balanced


def test_a_wallet_looked_at_can_deposit_and_trade_at_once() -> None:
    clock = Clock()
    engine = Engine(seed=1, clock=clock)
    engine.step()
    [wallet] = random_wallets(1, seed=2)
    look_at(engine, wallet)
    before = engine.stored_accounts
    engine.deposit(wallet, 500 * 10**6)
    assert engine.stored_accounts == before + 1
    engine.place_market_order(wallet, APT, True, False, 1000, 2, 0, 0)
    [position] = engine.positions(engine.profile_address(wallet))
    assert Decimal(position["size"]) == 1
    assert engine.wallet_balance(wallet) == 99_500
    assert engine.audit().balanced


def _deposit(account: Account, units: int) -> bytes:
    entry = EntryFunction.natural(
        f"{KANA_PACKAGE_ADDRESS}::perpetual_scripts",
        "deposit", [],
        [TransactionArgument(account.address(), Serializer.struct),
         TransactionArgument(units, Serializer.u64)],
    )
    raw = RawTransaction(account.address(), 0, TransactionPayload(entry), 20_000, 100,
                         int(time.time()) + 30, 4)
    return SignedTransaction(raw, account.sign_transaction(raw)).bytes()


async def test_rest_and_node_queries_of_unknown_wallets_store_nothing() -> None:
    async with Simulator(step_interval=None) as sim, aiohttp.ClientSession() as http:
        engine = sim.engine
        accounts = engine.stored_accounts
        for wallet in random_wallets(30, seed=3):
            for path, params in ADDRESS_QUERIES.items():
                query = {k: str(v) for k, v in {**params, "userAddress": wallet}.items()}
                async with http.get(f"{sim.rest_url}{path}", params=query,
                                    headers=HEADERS) as response:
                    body = await response.json()
                    assert response.status == 200, (path, body)
            async with http.get(f"{sim.node_url}/accounts/{wallet}") as response:
                assert (await response.json())["sequence_number"] == "0"
        assert engine.stored_accounts == accounts
        # A fresh key's first transaction creates its account, funded by the faucet.
        account = Account.generate()
        wallet = str(account.address())
        async with http.get(f"{sim.rest_url}/getWalletAccountBalance",
                            params={"userAddress": wallet}, headers=HEADERS) as response:
            assert (await response.json())["data"] == "100000"
        body = _deposit(account, 250 * 10**6)
        async with http.post(f"{sim.node_url}/transactions", data=body, headers={
                "Content-Type": "application/x.aptos.signed_transaction+bcs"}) as response:
            assert response.status == 202, await response.text()
        assert engine.stored_accounts == accounts + 1
        assert engine.profile_balance(wallet) == 250
