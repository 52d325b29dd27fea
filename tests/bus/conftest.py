"""Fixtures of the bus tests: a real nats-server per test module (started from the package)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bus.nats_server import NatsServer


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server
