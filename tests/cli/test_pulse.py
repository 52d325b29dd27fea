"""``kana-async pulse``: call, tail and book against the simulator's Pulse gateway."""

from __future__ import annotations

import argparse
import json
import secrets
import socket
from decimal import Decimal

import pytest

from kana_async import cli
from kana_async.cli import pulse
from kana_async.cli.args import UsageError
from kana_async.pulse import PulseBook
from kana_async.sim import Simulator
from tests.cli.conftest import ThreadedSimulator


@pytest.fixture
def gateway(sim: Simulator) -> list[str]:
    """Options that point a command at the shared simulator's Pulse gateway."""
    assert sim.pulse_ws_url is not None
    assert sim.pulse_http_url is not None
    return ["--ws-url", sim.pulse_ws_url, "--http-url", sim.pulse_http_url]


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pulse.DEFAULT_CLIENT_ID_ENV, raising=False)
    monkeypatch.delenv(pulse.DEFAULT_SECRET_ENV, raising=False)


# -- parameters ------------------------------------------------------------------------------


def test_values_that_parse_as_json_are_sent_as_json_exactly() -> None:
    params = pulse.parse_params([
        "amount=10", "price=59000.5", "post_only=true", "label=my quote", "channels=[\"a\"]",
        "trigger=null", "instrument_name=BTC_USD-PERPETUAL", "empty=", "weird=NaN",
    ])
    assert params == {
        "amount": 10, "price": Decimal("59000.5"), "post_only": True, "label": "my quote",
        "channels": ["a"], "trigger": None, "instrument_name": "BTC_USD-PERPETUAL",
        "empty": "", "weird": "NaN",
    }
    assert isinstance(params["price"], Decimal)  # never a float on the way to the wire


@pytest.mark.parametrize(("pairs", "rule"), [
    (["amount"], "parameter amount: must be NAME=VALUE"),
    (["=3"], "parameter =3: must be NAME=VALUE"),
    (["a-b=1"], "parameter a-b=1: must be NAME=VALUE"),
    (["amount=1", "amount=2"], "parameter amount: given twice"),
])
def test_bad_parameters_name_the_rule(pairs: list[str], rule: str) -> None:
    with pytest.raises(UsageError, match=rule):
        pulse.parse_params(pairs)


# -- where -----------------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["pulse", "call", "public/test", *argv])


def test_local_port_points_at_the_gateway_of_kana_async_sim() -> None:
    assert pulse.pulse_endpoints(_args("--local-port", "8100")) == (
        "ws://127.0.0.1:8103/ws/api/v2", "http://127.0.0.1:8103/api/v2")
    assert pulse.pulse_endpoints(_args()) == (None, None)  # an embedded simulator


@pytest.mark.parametrize(("argv", "rule"), [
    (["--local-port", "8100", "--ws-url", "ws://127.0.0.1:1/ws/api/v2"], "not both"),
    (["--local-port", "0"], "not 0"),
])
def test_conflicting_connection_options_are_usage_errors(argv: list[str], rule: str) -> None:
    with pytest.raises(UsageError, match=rule):
        pulse.pulse_endpoints(_args(*argv))


def test_local_port_reaches_the_gateway_of_a_running_simulator(
        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and the next three
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if port > 65532:
        pytest.skip("the ephemeral port leaves no room for the simulator's four servers")
    try:
        runner = ThreadedSimulator(port=port, step_interval=None)
        runner.__enter__()
    except OSError:
        pytest.skip(f"ports {port} to {port + 3} are taken")
    try:
        assert cli.main(["pulse", "call", "public/get_index_price", "index_name=btc_usd",
                         "--local-port", str(port)]) == 0
    finally:
        runner.__exit__(None, None, None)
    assert Decimal(capsys.readouterr().out) > 0


# -- call ------------------------------------------------------------------------------------


def test_call_on_an_embedded_simulator_prints_the_result(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["pulse", "call", "public/get_index_price", "index_name=btc_usd"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert Decimal(line) > 0


def test_private_call_on_the_embedded_simulator_uses_a_throwaway_client(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["pulse", "call", "private/get_account_summary", "currency=BTC"]) == 0
    summary = json.loads(capsys.readouterr().out, parse_float=Decimal)
    assert summary["currency"] == "BTC"
    assert summary["balance"] == 10  # the faucet's first funding


def test_a_named_gateway_gets_no_throwaway_client(
        capsys: pytest.CaptureFixture[str], gateway: list[str]) -> None:
    assert cli.main(["pulse", "call", "private/get_account_summary", "currency=BTC",
                     *gateway]) == 1
    assert "needs client_id and client_secret" in capsys.readouterr().err


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh client id and secret in the environment (the gateway registers them)."""
    client_id = f"cli-{secrets.token_hex(6)}"
    monkeypatch.setenv(pulse.DEFAULT_CLIENT_ID_ENV, client_id)
    monkeypatch.setenv(pulse.DEFAULT_SECRET_ENV, secrets.token_urlsafe(16))
    return client_id


def test_call_over_http(capsys: pytest.CaptureFixture[str], gateway: list[str],
                        credentials: str) -> None:
    assert cli.main(["pulse", "call", "private/get_instruments", "currency=BTC", "--http",
                     *gateway]) == 0
    (instrument,) = json.loads(capsys.readouterr().out)
    assert instrument["instrument_name"] == "BTC_USD-PERPETUAL"


def test_an_order_goes_out_with_exact_numbers(
        capsys: pytest.CaptureFixture[str], gateway: list[str], credentials: str) -> None:
    assert cli.main(["pulse", "call", "private/buy", "instrument_name=BTC_USD-PERPETUAL",
                     "amount=10", "type=limit", "price=50000.5", "post_only=true",
                     "label=cli-test", *gateway]) == 0
    result = json.loads(capsys.readouterr().out, parse_float=Decimal)
    assert result["order"]["price"] == Decimal("50000.5")
    assert result["order"]["label"] == "cli-test"
    assert result["order"]["order_state"] == "open"


def test_a_websocket_only_method_over_http_is_refused_before_sending(
        capsys: pytest.CaptureFixture[str], gateway: list[str]) -> None:
    assert cli.main(["pulse", "call", "public/set_heartbeat", "interval=10", "--http",
                     *gateway]) == 2
    err = capsys.readouterr().err
    assert "WebSocket only" in err
    assert err.count("\n") == 1


def test_a_refused_call_is_one_line_and_status_1(
        capsys: pytest.CaptureFixture[str], gateway: list[str], credentials: str) -> None:
    assert cli.main(["pulse", "call", "private/get_account_summary", "currency=XYZ",
                     *gateway]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("kana-async: error: Pulse error ")
    assert captured.err.count("\n") == 1


def test_a_method_outside_the_document_is_the_gateways_to_refuse(
        capsys: pytest.CaptureFixture[str], gateway: list[str]) -> None:
    assert cli.main(["pulse", "call", "public/no_such_method", *gateway]) == 1
    assert capsys.readouterr().err == "kana-async: error: Pulse error -32601: Method not found\n"


def test_the_secret_comes_from_the_environment_and_is_never_printed(
        capsys: pytest.CaptureFixture[str], gateway: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PULSE_SECRET", "first-secret-value")
    argv = ["pulse", "call", "private/get_account_summary", "currency=ETH", "--client-id",
            "cli-secret-test", "--client-secret-env", "MY_PULSE_SECRET", *gateway]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["balance"] == 100
    # The id is now registered with the first secret: another one is refused, unprinted.
    monkeypatch.setenv("MY_PULSE_SECRET", "second-secret-value")
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "second-secret-value" not in captured.out + captured.err
    assert "first-secret-value" not in captured.out + captured.err
    assert captured.err.startswith("kana-async: error:")


def test_a_client_id_without_its_secret_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], gateway: list[str]) -> None:
    assert cli.main(["pulse", "call", "public/test", "--client-id", "x", *gateway]) == 2
    assert "$PULSE_CLIENT_SECRET" in capsys.readouterr().err


# -- tail and book ---------------------------------------------------------------------------


def test_tail_prints_one_typed_item_per_line(capsys: pytest.CaptureFixture[str],
                                             gateway: list[str]) -> None:
    assert cli.main(["pulse", "tail", "deribit_price_index.btc_usd", "--count", "2",
                     "--duration", "20", *gateway]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["channel"] == "deribit_price_index.btc_usd"
        assert line["data"]["index_name"] == "btc_usd"
        assert Decimal(line["data"]["price"]) > 0  # exact decimal strings


def test_tail_of_a_book_prints_built_books(capsys: pytest.CaptureFixture[str],
                                           gateway: list[str]) -> None:
    assert cli.main(["pulse", "tail", "book.BTC_USD-PERPETUAL.raw", "--count", "1",
                     "--duration", "20", *gateway]) == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    book = line["data"]
    assert book["status"] == "synced"
    assert book["change_id"] >= 1
    bids = [Decimal(price) for price, _ in book["bids"]]
    asks = [Decimal(price) for price, _ in book["asks"]]
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0]


def test_tail_of_a_bad_channel_name_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], gateway: list[str]) -> None:
    assert cli.main(["pulse", "tail", "book.BTC USD.raw", "--count", "1", *gateway]) == 2
    assert "kana-async: error:" in capsys.readouterr().err


def test_book_without_a_terminal_prints_plain_blocks(
        capsys: pytest.CaptureFixture[str], gateway: list[str]) -> None:
    assert cli.main(["pulse", "book", "BTC_USD-PERPETUAL", "--depth", "3", "--count", "2",
                     "--interval", "0", "--duration", "20", *gateway]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert len(blocks) == 2
    head, columns, *levels = blocks[0].splitlines()
    assert head.startswith("BTC_USD-PERPETUAL at ")
    assert " synced " in head
    assert columns.split() == ["bid", "amount", "bid", "|", "ask", "ask", "amount"]
    assert len(levels) == 3
    bid, ask = Decimal(levels[0].split()[1]), Decimal(levels[0].split()[3])
    assert bid < ask


def test_pulse_without_a_subcommand_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["pulse"])
    assert exited.value.code == 2
    assert "SUBCOMMAND" in capsys.readouterr().err


def test_a_book_off_its_chain_says_so_in_plain_text() -> None:
    book = PulseBook(instrument_name="BTC_USD-PERPETUAL", change_id=42, timestamp=None,
                     status="syncing",
                     bids=((Decimal("59999.5"), Decimal(10)), (Decimal("59999"), Decimal(20))),
                     asks=((Decimal("60000.5"), Decimal(30)),))
    head, _columns, first, second = pulse.plain_book(book, 5).splitlines()
    assert head.startswith("BTC_USD-PERPETUAL at ")
    assert head.endswith("change 42  syncing  spread 1.0")
    assert first.split() == ["10", "59999.5", "|", "60000.5", "30"]
    assert second.split() == ["20", "59999", "|"]
    assert len(pulse.plain_book(book, 1).splitlines()) == 3  # --depth 1
