"""benchmarks/bus.py's own logic, without timing anything: a flood through the bridge reaches
every consumer process whole, a steady stream yields latencies, the direct baseline counts the
same frames, and the order rows place exactly the orders they report."""

from __future__ import annotations

from collections.abc import Iterator

import bus
import pytest
import stream_server

from tests.bus.nats_server import NatsServer


@pytest.fixture(scope="module")
def stand_in() -> Iterator[int]:
    parent, child = bus._CTX.Pipe()
    server = bus._CTX.Process(target=stream_server.serve, args=(child,), daemon=True)
    server.start()
    try:
        yield bus._recv(parent, 60, "stand-in port")
    finally:
        parent.send("stop")
        bus._join([server])


@pytest.fixture(scope="module")
def nats() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server


def test_every_frame_reaches_every_consumer_through_the_bridge(
        stand_in: int, nats: NatsServer) -> None:
    row = bus.bus_run(nats.url, stand_in, 2, 400, 0.0, 60)
    assert row["consumers"] == 2
    assert row["complete_min"] == 1.0
    assert row["signals"] == 0
    assert row["bridge"]["published"] == 401  # and the end marker
    assert row["bridge"]["dropped"] == 0
    assert row["per_consumer_min"] <= row["per_consumer_median"] <= row["aggregate"]


def test_a_steady_stream_gives_latencies_and_the_direct_run_counts_the_same(
        stand_in: int, nats: NatsServer) -> None:
    steady = bus.bus_run(nats.url, stand_in, 1, 200, 1000.0, 60)
    assert steady["complete_min"] == 1.0
    assert 0 < steady["p50_us"] <= steady["p99_us"]
    direct = bus.direct_run(stand_in, 200, 1000.0, 60)
    assert direct["items"] == 200
    assert 0 < direct["p50_us"] <= direct["p99_us"]


def test_the_order_rows_place_what_they_report(nats: NatsServer) -> None:
    rows = bus.orders_through_signer(nats.url, 6, (1, 3))
    assert set(rows) == {"1", "3"}
    for row in rows.values():
        assert row["signer"]["ok"] == row["signer"]["orders"] == 6
        assert row["direct"]["ok"] == row["direct"]["orders"] == 6
