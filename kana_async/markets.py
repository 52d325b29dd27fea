"""Market names: ``"APT"``, ``"APT-USD"``, ``"apt/usdc"`` or ``1338`` name the same market.

Wherever a ``market_id`` is taken, a market name is accepted too. :func:`find_market` is the
pure rule over a market list; :class:`MarketDirectory` is the asyncio layer that fetches the
list once (concurrent first calls share one request) and answers from it afterwards. A
numeric id never needs the list: it is used as given.

A name is the market's ``base_name`` (``APT/USDC``), its base asset alone (``APT``), or
``BASE-QUOTE`` with any of ``/ - _`` or a space between them, in any case; the quote ``USD``
stands for any US-dollar coin (``USDC``, ``USDT``). A name that matches no market, or several,
raises :class:`~kana_async.errors.ValidationError` listing the known names; nothing is sent.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence

from . import checks
from .errors import ValidationError, describe_value
from .models.kana import MarketInfo

__all__ = ["MarketDirectory", "find_market", "is_market_name", "market_label"]

_SEPARATORS = re.compile(r"[\s/_-]+")
#: A name: letters and digits in one or two parts (bounded, so hostile text stays cheap).
_NAME = re.compile(r"[A-Za-z0-9]+([\s/_-]+[A-Za-z0-9]+)?")
_MAX_NAME = 40


def is_market_name(value: object) -> bool:
    """True for text that names a market rather than giving its numeric id."""
    return (
        isinstance(value, str)
        and not (value.isascii() and value.isdigit())
        and len(value) <= _MAX_NAME
        and _NAME.fullmatch(value.strip()) is not None
    )


def _parts(name: str) -> tuple[str, str | None]:
    pieces = _SEPARATORS.split(name.strip().upper(), maxsplit=1)
    return pieces[0], (pieces[1] if len(pieces) > 1 else None)


def _quote_matches(wanted: str, quote: str | None) -> bool:
    if quote is None:
        return False
    return wanted == quote or (wanted == "USD" and quote.startswith("USD"))


def market_label(info: MarketInfo) -> str:
    """``APT/USDC (1338)``: how messages name a market."""
    return f"{info.base_name} ({info.market_id})"


def find_market(
    markets: Sequence[MarketInfo], name: str, *, param: str = "market_id"
) -> MarketInfo:
    """The one market of ``markets`` that ``name`` names (see the module docstring)."""
    if not is_market_name(name):
        raise ValidationError(
            param, "must be a market id or a market name such as APT, APT-USD or APT/USDC",
            name,
        )
    base, quote = _parts(name)
    found = []
    for info in markets:
        their_base, their_quote = _parts(info.base_name)
        if base == their_base and (quote is None or _quote_matches(quote, their_quote)):
            found.append(info)
    if len(found) == 1:
        return found[0]
    if found:
        which = ", ".join(market_label(m) for m in found)
        raise ValidationError(
            param, f"market name {describe_value(name)} is ambiguous ({which}); give the id "
            "or BASE-QUOTE",
        )
    known = ", ".join(market_label(m) for m in sorted(markets, key=lambda m: m.market_id))
    raise ValidationError(
        param, f"no market named {describe_value(name)}; known: {known or 'none'} (give a "
        "market id, or a name such as APT, APT-USD or APT/USDC)",
    )


class MarketDirectory:
    """Turns market ids and names into ids, fetching the market list once when a name needs it.

    ``fetch`` returns every market (``KanaRest`` passes ``getPerpetualAssetsInfo/allMarkets``).
    """

    def __init__(self, fetch: Callable[[], Awaitable[Sequence[MarketInfo]]]) -> None:
        self._fetch = fetch
        self._markets: tuple[MarketInfo, ...] | None = None
        self._lock = asyncio.Lock()

    @property
    def markets(self) -> tuple[MarketInfo, ...] | None:
        """The market list, or ``None`` before it was fetched."""
        return self._markets

    def remember(self, markets: Sequence[MarketInfo]) -> None:
        """Use ``markets`` as the whole list (a fresh answer of the all-markets endpoint)."""
        self._markets = tuple(markets)

    def forget(self) -> None:
        """Fetch the list again when a name next needs it (e.g. after a market was listed)."""
        self._markets = None

    def lookup(self, value: object, param: str = "market_id") -> int | None:
        """The id of ``value`` without any request: numeric ids as given, names from the
        fetched list; ``None`` for a name while the list is not fetched yet."""
        if not is_market_name(value):
            return checks.market_id(value, param)
        if self._markets is None:
            return None
        return find_market(self._markets, str(value), param=param).market_id

    async def all(self) -> tuple[MarketInfo, ...]:
        """Every market; fetched once, concurrent first calls share one request."""
        markets = self._markets
        if markets is not None:
            return markets
        async with self._lock:
            if self._markets is None:
                self._markets = tuple(await self._fetch())
            return self._markets

    async def market_id(self, value: object, param: str = "market_id") -> int:
        """The id of a market id or name (a name may fetch the market list once)."""
        if not is_market_name(value):
            return checks.market_id(value, param)
        return find_market(await self.all(), str(value), param=param).market_id

    async def market(self, value: object, param: str = "market_id") -> MarketInfo | None:
        """The listed market of a name (``None`` for a numeric id: the list is not needed)."""
        if not is_market_name(value):
            checks.market_id(value, param)
            return None
        return find_market(await self.all(), str(value), param=param)
