"""The demo's options: defaults, the rules they are checked against, and the key kept out of
sight."""

from __future__ import annotations

import argparse

import pytest

from kana_async.cli.demo import DemoOptions, configure, options_from_args
from kana_async.errors import ValidationError


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


@pytest.mark.parametrize(
    ("argv", "param"),
    [
        (["--network", "testnet", "--api-key", "k"], "private_key_env"),
        (["--network", "testnet", "--private-key-env", "KEY"], "api_key"),
        (["--private-key-env", "UNSET_VARIABLE"], "private_key_env"),
        (["--deposit", "0"], "deposit"),
        (["--leverage", "0"], "leverage"),
        (["--network", "mainnet", "--api-key", "k", "--private-key-env", "KEY"], "network"),
        (["--rest-url", "ftp://example"], "rest_url"),
    ],
)
def test_bad_options_name_the_parameter(argv: list[str], param: str) -> None:
    with pytest.raises(ValidationError) as info:
        options_from_args(parse(*argv), environ={"KEY": "11" * 32})
    assert info.value.param == param


@pytest.mark.parametrize("argv", [["--duration", "0"], ["--duration", "x"],
                                  ["--deposit", "lots"], ["--network", "moon"]])
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
