"""Market parameters and exact unit conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kana_async.sim.markets import DEFAULT_MARKETS, OrderType, quote_amount, quote_units

APT, BTC, ETH, SOL = DEFAULT_MARKETS


def test_testnet_ids_and_documented_apt_parameters() -> None:
    assert [m.market_id for m in DEFAULT_MARKETS] == [1338, 1339, 1340, 2387]
    assert (APT.lot_size, APT.tick_size, APT.base_decimals, APT.quote_decimals) == (
        100_000, 1, 8, 6)
    assert (APT.min_lots, APT.max_lots, APT.quote_precision) == (500, 150_000_000, 3)
    assert (APT.max_leverage, APT.maintenance_margin_bps) == (20, 250)
    assert APT.lot == Decimal("0.001")
    assert APT.tick == Decimal("0.001")
    assert APT.size_of(APT.min_lots) == Decimal("0.5")  # "minimum 0.5 APT"


def test_other_markets_have_realistic_steps() -> None:
    assert (BTC.lot, BTC.tick) == (Decimal("0.00001"), Decimal(1))
    assert (ETH.lot, ETH.tick) == (Decimal("0.001"), Decimal("0.01"))
    assert (SOL.lot, SOL.tick) == (Decimal("0.01"), Decimal("0.001"))
    for spec in DEFAULT_MARKETS:
        # quote_precision is the number of decimals of the price step
        assert spec.tick == Decimal(1).scaleb(-spec.quote_precision)
        assert spec.ticks(spec.initial_price) > 0


def test_round_trip_and_off_grid() -> None:
    assert APT.lots(Decimal("1.5")) == 1500
    assert APT.ticks(Decimal("5.768")) == 5768
    assert APT.size_of(1500) == Decimal("1.5")
    assert APT.price_of(5768) == Decimal("5.768")
    with pytest.raises(ValueError, match="lot"):
        APT.lots(Decimal("1.0005"))
    with pytest.raises(ValueError, match="tick"):
        BTC.ticks(Decimal("95000.5"))
    # The legacy example: 1000 lots at 6050 ticks is worth 6.05 quote = 6050000 units.
    assert quote_units(APT.size_of(1000) * APT.price_of(6050)) == 6_050_000


def test_quote_units() -> None:
    assert quote_units(Decimal("10.5")) == 10_500_000
    assert quote_amount(1) == Decimal("0.000001")
    with pytest.raises(ValueError, match="decimals"):
        quote_units(Decimal("0.0000001"))


def test_order_type_numbering_is_stable() -> None:
    assert OrderType.of(is_market=False, trade_side=True, direction=False) == 1
    assert OrderType.of(is_market=False, trade_side=False, direction=False) == 2
    assert OrderType.of(is_market=False, trade_side=True, direction=True) == 3
    assert OrderType.of(is_market=False, trade_side=False, direction=True) == 4
    assert OrderType.of(is_market=True, trade_side=True, direction=True) == 7
    assert OrderType.trigger(True) == 9
    assert OrderType.liquidation(False) == 12
