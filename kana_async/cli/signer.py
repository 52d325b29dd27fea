"""``kana-async signer --nats URL``: hold one account's key and serve its trading to strategy
processes over NATS until told to stop.

The key comes from the environment (``--private-key-env``, as for every command that signs),
and so do the NATS credentials (``--nats-credentials-env``: ``user:password`` or a token), never
from the command line, which other users of the machine can see.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from typing import TextIO
from urllib.parse import quote, urlsplit, urlunsplit

from .args import Command, UsageError, _env_name, add_connection_options
from .connect import client, stop_on_signals, wait_for_stop
from .metrics import add_metrics_options, metrics_from_args

__all__ = ["SIGNER", "add_nats_options", "nats_url", "serve_signer"]

#: The environment variable ``--nats-credentials-env`` names by default.
DEFAULT_NATS_CREDENTIALS_ENV = "KANA_NATS_CREDENTIALS"


def _nats(value: str) -> str:
    if not value.startswith(("nats://", "tls://")):
        raise argparse.ArgumentTypeError("must be a nats:// (or tls://) URL")
    return value


def add_nats_options(parser: argparse.ArgumentParser, what: str, whose: str) -> None:
    """``--nats URL`` (``what`` it is for) and ``--nats-credentials-env`` (``whose``
    credentials), shared by the commands that run on the bus."""
    parser.add_argument("--nats", type=_nats, required=True, metavar="URL", help=what)
    parser.add_argument(
        "--nats-credentials-env", type=_env_name, metavar="VAR",
        default=DEFAULT_NATS_CREDENTIALS_ENV,
        help=f"environment variable holding {whose} NATS credentials, 'user:password' "
             f"or a token (default {DEFAULT_NATS_CREDENTIALS_ENV}; unset: none)",
    )


def _configure(parser: argparse.ArgumentParser) -> None:
    add_nats_options(parser, "the NATS server strategies reach the signer through",
                     "this signer's")
    add_connection_options(parser, wallet=True)
    add_metrics_options(parser)


def nats_url(url: str, variable: str, environ: Mapping[str, str] | None = None) -> str:
    """``url`` with the credentials of ``$variable`` (``user:password`` or a token) when it
    is set; a URL that names credentials of its own and a set variable is a usage error."""
    env = os.environ if environ is None else environ
    secret = env.get(variable)
    if not secret:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise UsageError(f"--nats names credentials and ${variable} is set: give one of them")
    user, sep, password = secret.partition(":")
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}" if sep \
        else quote(secret, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query,
                       parts.fragment))


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(serve_signer(args))


async def serve_signer(args: argparse.Namespace, *, out: TextIO | None = None,
                       stop: asyncio.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop``); print where, for which account, first."""
    from ..bus import connect, redact_url
    from ..bus.signer import SignerService

    out = out if out is not None else sys.stdout
    url = nats_url(args.nats, args.nats_credentials_env)
    kana = client(args, sign=True)
    with stop_on_signals() as signalled:
        async with metrics_from_args(args) as metrics, kana:
            nc = await connect(url, name=f"kana-signer-{kana.address[:10]}")
            service = SignerService(
                kana.trader, network=args.network,
                on_outcome=None if metrics is None else metrics.on_outcome)
            if metrics is not None:
                metrics.watch_trader(kana.trader)
            try:
                await service.start(nc)
                print(f"signer for {kana.address} on {args.network}: serving "
                      f"{service.subject} at {redact_url(args.nats)} (instance "
                      f"{service.instance})", file=out, flush=True)
                await wait_for_stop(signalled, stop)
            finally:
                await service.stop()
                await nc.close()
            doubt = kana.in_doubt()
            print(f"signer stopped ({service.calls} calls answered"
                  + (f"; in doubt: {', '.join(doubt)}" if doubt else "") + ")",
                  file=out, flush=True)
    return 0


SIGNER = Command(
    "signer", "hold one account's key and serve its trading to other processes over NATS",
    _configure, _run,
    epilog="""examples::

  KANA_PRIVATE_KEY=... kana-async signer --nats nats://127.0.0.1:4222 --network testnet
  kana-async signer --nats nats://127.0.0.1:4222 --local-port 8100 --metrics-port 9465

strategies then trade with::

  KanaClient("testnet", signer_url="nats://user:password@host:4222", signer_account="0x...")""",
)
