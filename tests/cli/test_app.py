"""The command table and main(): help everywhere, and every failure as one line with the
right exit status."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator

import pytest

from kana_async import cli
from kana_async.cli.app import COMMANDS


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("name", [command.name for command in COMMANDS])
def test_every_command_has_help_with_examples(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main([name, "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: kana-async {name}" in out
    assert "examples:" in out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command.name in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["price"], "the following arguments are required: MARKET"),
        (["price", "no market!"], "argument MARKET: must be a market id"),
        (["book", "APT", "--depth", "0"], "--depth: must be >= 1"),
        (["tail", "nope"], "argument TOPIC: invalid choice"),
        (["tail", "orderbook", "--count", "x"], "--count: must be a whole number"),
        (["place", "--market", "APT", "--side", "up", "--size", "1", "--leverage", "2"],
         "--side: invalid choice"),
        (["place", "--market", "APT", "--side", "long", "--size", "-1", "--leverage", "2"],
         "--size: must be >= 0"),
        (["place", "--market", "APT", "--side", "long", "--size", "1", "--leverage", "2",
          "--open", "--close"], "not allowed with argument"),
        (["cancel", "--market", "APT"], "one of the arguments --order-id --all is required"),
        (["positions", "--address", "0xZZ"], "--address: must be a 0x-prefixed hex address"),
        (["markets", "--rest-url", "ftp://x"], "--rest-url: must be an http(s)://"),
        (["replay", "f", "--speed", "0"], "--speed: must be > 0"),
        (["record", "--out", "f", "--count", "1", "--duration", "1"], "not allowed with"),
        (["positions", "--private-key-env", "not a name"], "must be the name of an environment"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("kana-async: error: ")
    assert complaint in line


@pytest.mark.parametrize(
    ("argv", "status", "complaint"),
    [
        (["tail", "orderbook"], 2, "orderbook needs --market"),
        (["tail", "positions", "--market", "APT"], 2, "--market does not apply to positions"),
        (["tail", "live_funding_rate", "--address", "0x1"], 2, "do not apply"),
        (["markets", "--local-port", "8100", "--rest-url", "http://127.0.0.1:1"], 2,
         "give --local-port or the URLs"),
        (["markets", "--network", "testnet", "--local-port", "8100"], 2,
         "--local-port works with --network local only"),
        (["markets", "--network", "testnet"], 1, "needs an API key: set $KANA_API_KEY"),
        (["positions"], 2, "which wallet? pass --address"),
        (["cancel", "--order-id", "12"], 2, "--order-id needs --market"),
        (["cancel", "--all", "--side", "long"], 2, "--side goes with --order-id"),
        (["cancel", "--order-id", "x1", "--market", "APT", "--side", "long"], 2,
         "--order-id: must be a whole number"),
        (["place", "--market", "APT", "--side", "long", "--size", "1", "--leverage", "2",
          "--network", "testnet", "--api-key", "k"], 1,
         "signing needs a private key: set $KANA_PRIVATE_KEY"),
        (["price", "DOGE"], 1, "no market named 'DOGE'; known: APT/USDC (1338)"),
    ],
)
def test_options_that_do_not_fit_fail_in_one_line(
    argv: list[str], status: int, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == status
    captured = capsys.readouterr()
    (line,) = error_lines(captured.err)
    assert line.startswith("kana-async: error: ")
    assert complaint in line
    assert "Traceback" not in captured.err


def test_a_bad_key_is_named_by_its_variable_never_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "ab" * 31 + "zz"
    monkeypatch.setenv("MY_KEY", secret)
    assert cli.main(["positions", "--private-key-env", "MY_KEY"]) == 1
    err = capsys.readouterr().err
    assert "$MY_KEY: must be an ed25519 private key" in err
    assert secret not in err


def test_an_unreachable_server_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 1 on loopback refuses at once. A transaction builder is the first request of
    # deposit and is never retried (queries are), so this fails fast.
    status = cli.main(["deposit", "1", "--yes", "--rest-url", "http://127.0.0.1:1",
                       "--node-url", "http://127.0.0.1:1/v1", "--ws-url", "ws://127.0.0.1:1/"])
    captured = capsys.readouterr()
    assert status == 1
    lines = error_lines(captured.err)
    assert lines[-1].startswith("kana-async: error: ")
    assert "Traceback" not in captured.err


def test_local_port_derives_the_three_urls() -> None:
    from kana_async.cli.connect import endpoints

    args = cli.build_parser().parse_args(["markets", "--local-port", "8100"])
    assert endpoints(args) == {
        "rest_url": "http://127.0.0.1:8100",
        "ws_url": "ws://127.0.0.1:8101/ws/",
        "node_url": "http://127.0.0.1:8102/v1",
    }


def _parser_texts(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, str]]:
    """``(where, text)`` of every description, epilog and argument help under ``parser``."""
    for kind in ("description", "epilog"):
        text = getattr(parser, kind)
        if text:
            yield f"{path} {kind}", text
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parser_texts(sub, f"{path} {name}")
        elif action.help and action.help != argparse.SUPPRESS:
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action.help


def test_every_help_text_is_restructuredtext() -> None:
    # The reference (docs/reference/cli.md) renders these texts as reStructuredText.
    docutils = pytest.importorskip("docutils.core")
    texts = list(_parser_texts(cli.build_parser(), "kana-async"))
    assert len(texts) > 50
    for where, text in texts:
        complaints = io.StringIO()
        docutils.publish_doctree(text + "\n", settings_overrides={
            "warning_stream": complaints, "report_level": 2, "halt_level": 5})
        assert complaints.getvalue() == "", f"{where}: {complaints.getvalue()}"


def test_examples_keep_one_line_each_in_the_reference() -> None:
    # "examples::" opens a literal block: each example stays on its own line once rendered.
    core = pytest.importorskip("docutils.core")
    nodes = pytest.importorskip("docutils.nodes")
    for where, text in _parser_texts(cli.build_parser(), "kana-async"):
        if not where.endswith(" epilog") or where == "kana-async epilog":
            continue
        tree = core.publish_doctree(text + "\n", settings_overrides={"report_level": 5})
        blocks = [node.astext() for node in tree.findall(nodes.literal_block)]
        assert blocks, where
        assert "kana-async " in blocks[0], where
