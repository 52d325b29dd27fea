"""The test server itself: it listens, JetStream answers, and it comes back after a kill."""

from __future__ import annotations

import nats
import pytest

from tests.bus.nats_server import NatsServer


async def test_the_server_serves_core_and_jetstream(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        sub = await nc.subscribe("kana.test.ping")
        await nc.publish("kana.test.ping", b"1")
        assert (await sub.next_msg(timeout=2)).data == b"1"
        js = nc.jetstream()
        await js.add_stream(name="check", subjects=["kana.check.>"])
        ack = await js.publish("kana.check.a", b"x")
        assert ack.seq == 1
    finally:
        await nc.close()


def test_restart_keeps_the_port() -> None:
    with NatsServer() as server:
        port = server.port
        server.restart()
        assert server.port == port
    late = NatsServer(jetstream=False)
    try:
        with pytest.raises(RuntimeError, match="did not listen"):
            late.start(timeout=0)
    finally:
        late.close()
