"""The demo's options: defaults, the connection options and rules every command shares, the
rules of the demo's own, and the key kept out of sight."""

from __future__ import annotations

import argparse

import pytest

from kana_async.cli.args import CliError, UsageError
from kana_async.cli.demo import DemoOptions, configure, options_from_args
from kana_async.errors import ValidationError

KEY = "11" * 32


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_default_options() -> None:
    options = options_from_args(parse(), environ={})
    assert options == DemoOptions()
    assert options.local
    assert options.duration == 30.0
    assert options.plain is None
    assert parse("--plain").plain is True


def test_the_connection_options_are_the_ones_every_command_takes() -> None:
    options = options_from_args(parse("--local-port", "8100"), environ={})
    assert (options.rest_url, options.ws_url, options.node_url) == (
        "http://127.0.0.1:8100", "ws://127.0.0.1:8101/ws/", "http://127.0.0.1:8102/v1")
    assert options.local
    with pytest.raises(UsageError, match="--local-port works with --network local only"):
        options_from_args(parse("--network", "testnet", "--local-port", "8100"), environ={})


def test_the_wallet_key_is_read_as_every_command_reads_it() -> None:
    # $KANA_PRIVATE_KEY by default, also on the simulator; without one there, a fresh key.
    assert options_from_args(parse(), environ={"KANA_PRIVATE_KEY": KEY}).private_key == KEY
    assert options_from_args(parse("--private-key-env", "MINE"), environ={}).private_key is None
    with pytest.raises(CliError, match=r"^\$MINE: ") as info:
        options_from_args(parse("--private-key-env", "MINE"), environ={"MINE": "0xnot-a-key"})
    assert "not-a-key" not in str(info.value)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--network", "testnet", "--api-key", "k"],
         "signing needs a private key: set $KANA_PRIVATE_KEY"),
        (["--network", "testnet", "--api-key", "k", "--private-key-env", "UNSET_VARIABLE"],
         "signing needs a private key: set $UNSET_VARIABLE"),
        (["--network", "testnet", "--private-key-env", "KEY"],
         "--network testnet needs an API key: set $KANA_API_KEY"),
    ],
)
def test_a_real_network_needs_both_keys(argv: list[str], complaint: str) -> None:
    with pytest.raises(CliError) as info:
        options_from_args(parse(*argv), environ={"KEY": KEY})
    assert str(info.value).startswith(complaint)


def test_mainnet_is_refused_without_a_confirmation() -> None:
    with pytest.raises(ValidationError) as info:
        options_from_args(parse("--network", "mainnet", "--api-key", "k", "--private-key-env",
                                "KEY"), environ={"KEY": KEY})
    assert info.value.param == "network"


@pytest.mark.parametrize("argv", [["--duration", "0"], ["--duration", "x"],
                                  ["--deposit", "lots"], ["--deposit", "0"],
                                  ["--leverage", "0"], ["--network", "moon"],
                                  ["--rest-url", "ftp://example"],
                                  ["--private-key-env", "NOT A NAME"]])
def test_bad_arguments_are_refused_by_the_parser(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


def test_mainnet_needs_a_confirmation() -> None:
    options = options_from_args(
        parse("--network", "mainnet", "--api-key", "k", "--private-key-env", "KEY", "--yes"),
        environ={"KEY": "11" * 32},
    )
    assert options.network == "mainnet"


def test_the_key_comes_from_the_named_variable_and_is_never_shown() -> None:
    secret = "ab" * 32
    options = options_from_args(
        parse("--network", "testnet", "--private-key-env", "MY_KEY"),
        environ={"MY_KEY": secret, "KANA_API_KEY": "api-secret"},
    )
    assert options.private_key == secret
    assert options.api_key == "api-secret"
    assert secret not in repr(options)
    assert "api-secret" not in repr(options)


def test_counterparty_needs_the_simulator() -> None:
    with pytest.raises(ValidationError) as info:
        DemoOptions(network="testnet", api_key="k", private_key="11" * 32, counterparty=True)
    assert info.value.param == "counterparty"
    assert not DemoOptions(network="testnet", api_key="k",
                           private_key="11" * 32).use_counterparty
    assert DemoOptions().use_counterparty
