"""The demo's options: :class:`DemoOptions` (what to run against and how, checked once) and
how ``kana-async demo``'s command line becomes one, with the connection options and rules
every command shares.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ...config import resolve_network
from ...errors import ValidationError
from ..args import UsageError, add_connection_options, leverage, market, positive_decimal
from ..connect import api_key, endpoints, is_local, private_key
from .report import MIN_DEPOSIT

__all__ = ["DEFAULT_DURATION", "DemoOptions", "configure", "options_from_args"]

#: Seconds the demo runs by default.
DEFAULT_DURATION = 30.0


@dataclass(frozen=True)
class DemoOptions:
    """What to run against and how. ``private_key`` is never shown (not in the repr)."""

    network: str = "local"
    duration: float = DEFAULT_DURATION
    #: A market id (1338) or name (APT, apt/usdc, APT-USDC), resolved like the CLI does.
    market: int | str = 1338
    #: Collateral to deposit (``None``: what the demo's orders need in this market, at least
    #: :data:`MIN_DEPOSIT`; see :func:`deposit_for`).
    deposit: Decimal | None = None
    leverage: int = 2
    keep_position: bool = False
    api_key: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    rest_url: str | None = None
    ws_url: str | None = None
    node_url: str | None = None
    #: Force plain lines (``None``: plain unless the output is a terminal).
    plain: bool | None = None
    #: Seconds between two steps, so that a viewer can follow (``None``: a fifteenth of the
    #: duration, at most 2 s).
    pace: float | None = None
    #: A second wallet takes the other side of the resting order (``None``: on the local
    #: network only). Without one, the demo's own market order crosses the book, as it must
    #: on a real network where the demo has a single key.
    counterparty: bool | None = None
    #: Mainnet trades real money: the demo runs there only when this is True.
    mainnet_confirmed: bool = False
    #: Run the Pulse leg after the scenario (local network only).
    pulse: bool = False
    #: The Pulse gateway's WebSocket URL for that leg (``None``: an embedded simulator's).
    pulse_ws_url: str | None = None

    def __post_init__(self) -> None:
        resolve_network(self.network, rest_url=self.rest_url, ws_url=self.ws_url,
                        node_url=self.node_url)  # checks the network's name and the URLs
        if not 0 < self.duration <= 86_400:
            raise ValidationError("duration", "must be > 0 and at most 86400 seconds",
                                  self.duration)
        if self.deposit is not None and not self.deposit > 0:
            raise ValidationError("deposit", "must be > 0", self.deposit)
        if self.pace is not None and not 0 <= self.pace <= 60:
            raise ValidationError("pace", "must be from 0 to 60 seconds", self.pace)
        if not 1 <= self.leverage <= 1000:
            raise ValidationError("leverage", "must be an integer from 1", self.leverage)
        if self.counterparty and not self.local:
            raise ValidationError("counterparty", "needs the local network: a second wallet "
                                  "is funded by the simulator's faucet", self.counterparty)
        if self.network == "mainnet" and not self.mainnet_confirmed:
            raise ValidationError("network", "mainnet trades real money: pass --yes to run "
                                  "the demo there", self.network)
        if self.pulse and not self.local:
            raise ValidationError("pulse", "the Pulse leg runs on the local network only (the "
                                  "simulator's gateway)", self.pulse)
        if self.network != "local" and self.private_key is None:
            raise ValidationError("private_key_env", f"trading on {self.network} needs a key: "
                                  "--private-key-env VAR names the variable holding it")
        if self.network != "local" and self.api_key is None:
            raise ValidationError("api_key", f"{self.network} needs an API key (--api-key or "
                                  "KANA_API_KEY)")

    @property
    def local(self) -> bool:
        return self.network == "local"

    @property
    def use_counterparty(self) -> bool:
        return self.local if self.counterparty is None else self.counterparty


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < seconds <= 86_400:
        raise argparse.ArgumentTypeError("must be > 0 and at most 86400")
    return seconds


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to ``parser``, and the connection options every command shares
    (:func:`~kana_async.cli.args.add_connection_options`: ``--network``, ``--local-port``, the
    URLs, ``--api-key``, ``--private-key-env``)."""
    parser.add_argument("--duration", type=_positive_seconds, default=DEFAULT_DURATION,
                        metavar="SECONDS", help="how long the demo runs (default %(default)g)")
    parser.add_argument("--plain", action="store_true", default=None,
                        help="plain lines instead of the live view (automatic without a "
                        "terminal)")
    parser.add_argument("--market", type=market, default="1338", metavar="MARKET",
                        help="market id or name: 1338, APT, apt/usdc, APT-USDC (default "
                        "%(default)s, APT)")
    parser.add_argument("--deposit", type=positive_decimal, default=None, metavar="AMOUNT",
                        help="collateral to deposit first (default: what the demo's orders "
                        f"need in the market, at least {MIN_DEPOSIT})")
    parser.add_argument("--leverage", type=leverage, default=2, metavar="N",
                        help="leverage (default %(default)s)")
    parser.add_argument("--keep-position", action="store_true",
                        help="leave the position open at the end (default: close it)")
    parser.add_argument("--yes", action="store_true",
                        help="confirm running on mainnet, with real money")
    parser.add_argument("--pulse", action="store_true",
                        help="then run the Pulse leg: the same bot on the simulator's Pulse "
                        "v2 gateway, cancel-on-disconnect on (local network only)")
    add_connection_options(parser, wallet=True)


def options_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None
                      ) -> DemoOptions:
    """:class:`DemoOptions` from parsed arguments. The connection options are read as every
    command reads them (:mod:`kana_async.cli.connect`): the URLs or ``--local-port``, the API
    key, the wallet's key from ``$<--private-key-env>`` (of ``environ``, by default the
    process's). On a simulator without a key, the demo signs with a fresh one."""
    urls = endpoints(args)
    pulse_ws_url = None
    if args.pulse and args.local_port is not None:
        pulse_ws_url = f"ws://127.0.0.1:{args.local_port + 3}/ws/api/v2"
    elif args.pulse and any(urls.values()):
        raise UsageError("--pulse with URLs: give --local-port (the gateway is on N+3), or "
                         "no URLs for the embedded simulator")
    key = api_key(args, environ)  # checked first, as every command does
    signing_key = private_key(args, required=not is_local(args), environ=environ)
    return DemoOptions(
        network=args.network, duration=args.duration,
        market=int(args.market) if args.market.isdigit() else args.market,
        deposit=args.deposit, leverage=args.leverage, keep_position=args.keep_position,
        api_key=key, private_key=signing_key, rest_url=urls["rest_url"],
        ws_url=urls["ws_url"], node_url=urls["node_url"], plain=args.plain,
        mainnet_confirmed=args.yes, pulse=args.pulse, pulse_ws_url=pulse_ws_url,
    )
