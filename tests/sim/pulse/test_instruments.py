from decimal import Decimal

import pytest

from kana_async.sim.pulse.errors import Code, PulseError
from kana_async.sim.pulse.instruments import DEFAULT_INSTRUMENTS

BTC = DEFAULT_INSTRUMENTS[0]


def test_amounts_are_whole_contracts() -> None:
    assert BTC.contracts(Decimal(30)) == 3
    with pytest.raises(PulseError, match="multiple of the contract size 10 USD") as caught:
        BTC.contracts(Decimal(15))
    assert caught.value.code == Code.INVALID_AMOUNT


def test_prices_are_on_the_grid() -> None:
    assert BTC.ticks(Decimal("60000.5")) == 120001
    with pytest.raises(PulseError, match=r"tick size 0\.5") as caught:
        BTC.ticks(Decimal("60000.25"))
    assert caught.value.code == Code.PRICE_WRONG_TICK


@pytest.mark.parametrize("value", ["1e28", "1e40", "Infinity", "NaN", "0", "-10"])
def test_absurd_values_are_refused_by_rule_not_by_decimal(value: str) -> None:
    for convert in (BTC.contracts, BTC.ticks):
        with pytest.raises(PulseError):
            convert(Decimal(value))
