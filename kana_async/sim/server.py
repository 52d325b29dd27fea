"""The whole local exchange in one object: engine, REST API, indexer WebSocket, Aptos node and
the Pulse v2 gateway.

``async with Simulator() as sim:`` binds each server on 127.0.0.1 (an ephemeral port each by
default), drives the engine's background step (market maker, triggers, funding) from a task,
and on exit closes every socket and task it opened. It never listens beyond the loopback
interface: the simulator is a test double, not a service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack
from decimal import Decimal
from types import TracebackType

from aiohttp import web

from .._tasks import cancel_and_wait
from ..errors import ValidationError
from .aptos_node import make_node_app
from .engine import Engine
from .faults import Faults
from .kana_rest import make_rest_app
from .kana_ws import IndexerServer
from .market_maker import MarketMakerConfig
from .pulse.auth import Authenticator
from .pulse.config import PulseConfig
from .pulse.engine import PulseEngine
from .pulse.faults import PulseFaults
from .pulse.server import PulseServer

__all__ = ["Simulator", "check_loopback"]

logger = logging.getLogger(__name__)

#: Seconds the HTTP servers wait for requests still running when the simulator closes
#: (a delayed or deliberately hung request must not hold up a test's teardown).
SHUTDOWN_TIMEOUT = 0.5


def check_loopback(host: str) -> str:
    """``host`` if it names the loopback interface; the simulator serves nothing else."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValidationError("host", "must be a loopback address such as 127.0.0.1", host)
    return host


class Simulator:
    """A running simulated Kana exchange (REST + indexer WebSocket + Aptos node) and Pulse v2
    gateway.

    ``port=0`` gives each server its own ephemeral port; ``port=N`` puts REST on N, the
    WebSocket on N+1, the node on N+2 and the Pulse gateway on N+3. ``step_interval`` is the
    seconds between engine steps (``None``: never step automatically; call
    ``sim.engine.step()`` yourself); ``market_maker`` sets the background liquidity's
    intensity (``None``: no market maker); ``push_interval`` is the least time between two
    WebSocket push rounds. Pass ``engine`` to serve an engine you built yourself (then
    ``seed``, ``clock``, the faucet amounts, ``market_maker`` and ``funding_interval`` are not
    used). ``pulse`` configures the Pulse gateway (``None``: not served); it has its own engine
    (``sim.pulse.engine``), stepped with the other, and shares the seed and the clock.

    :raises ValidationError: if ``host`` is not a loopback address, ``port`` is not 0 or a port
       from 1 to 65532, ``step_interval`` is not > 0 (or None), ``push_interval`` is < 0, or
       ``pulse`` is not a :class:`PulseConfig` (or None)
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        port: int = 0,
        host: str = "127.0.0.1",
        step_interval: float | None = 0.1,
        push_interval: float = 0.0,
        market_maker: MarketMakerConfig | None = MarketMakerConfig(),  # noqa: B008
        funding_interval: float = 60.0,
        faucet_quote: Decimal | int = Decimal(100_000),
        faucet_apt_octas: int = 10 * 10**8,
        api_keys: Collection[str] | None = None,
        chain_id: int = 4,
        clock: Callable[[], float] = time.time,
        ws_max_events: int = 1000,
        engine: Engine | None = None,
        faults: Faults | None = None,
        pulse: PulseConfig | None = PulseConfig(),  # noqa: B008
    ) -> None:
        self.host = check_loopback(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65532:
            raise ValidationError("port", "must be 0 (ephemeral) or a port from 1 to 65532", port)
        if pulse is not None and not isinstance(pulse, PulseConfig):
            raise ValidationError("pulse", "must be a PulseConfig or None", pulse)
        if step_interval is not None and not step_interval > 0:
            raise ValidationError("step_interval", "must be > 0 seconds or None", step_interval)
        if push_interval < 0:
            raise ValidationError("push_interval", "must be >= 0 seconds", push_interval)
        self.port = port
        self.step_interval = step_interval
        self.engine = engine if engine is not None else Engine(
            seed=seed,
            clock=clock,
            faucet_quote=Decimal(faucet_quote),
            faucet_apt_octas=faucet_apt_octas,
            market_maker=market_maker,
            funding_interval=funding_interval,
        )
        self.faults = faults if faults is not None else Faults()
        self.seed = seed
        self.ws = IndexerServer(
            self.engine,
            self.faults,
            host=self.host,
            port=port + 1 if port else 0,
            push_interval=push_interval,
            max_events=ws_max_events,
        )
        self._api_keys = api_keys
        self._chain_id = chain_id
        self._stack: AsyncExitStack | None = None
        self.rest_url: str | None = None
        self.ws_url: str | None = None
        self.node_url: str | None = None
        #: The Pulse v2 gateway (``.engine``, ``.auth``, ``.faults``), None when not served.
        self.pulse: PulseServer | None = None
        if pulse is not None:
            self.pulse = PulseServer(
                PulseEngine(seed=seed, clock=clock, market_maker=pulse.market_maker,
                            funding_interval=pulse.funding_interval),
                Authenticator(clock, token_lifetime=pulse.token_lifetime,
                              refresh_lifetime=pulse.refresh_lifetime),
                PulseFaults(seed=seed),
                pulse,
                host=self.host,
                port=port + 3 if port else 0,
            )
        self.pulse_ws_url: str | None = None
        self.pulse_http_url: str | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Simulator {state} seed={self.seed} rest={self.rest_url} ws={self.ws_url}>"

    @property
    def running(self) -> bool:
        """Whether the servers are bound (between :meth:`start` and :meth:`close`)."""
        return self._stack is not None

    @property
    def urls(self) -> dict[str, str | None]:
        """Every URL by name (``rest``, ``ws``, ``node``, ``pulse_ws``, ``pulse_http``); None
        before :meth:`start`, and for Pulse when it is not served."""
        return {"rest": self.rest_url, "ws": self.ws_url, "node": self.node_url,
                "pulse_ws": self.pulse_ws_url, "pulse_http": self.pulse_http_url}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind every server and start stepping the engines; a second call does nothing.

        :raises OSError: if a port cannot be bound (with ``port=N``, one of N to N+3 is taken);
           nothing stays open
        """
        if self._stack is not None:
            return
        async with AsyncExitStack() as stack:
            rest_app = make_rest_app(self.engine, self.faults, api_keys=self._api_keys)
            rest_port = await self._serve(stack, rest_app, self.port)
            await self.ws.start()
            stack.push_async_callback(self.ws.stop)
            node_app = make_node_app(self.engine, self.faults, chain_id=self._chain_id)
            node_port = await self._serve(stack, node_app, self.port + 2 if self.port else 0)
            if self.pulse is not None:
                await self.pulse.start()
                stack.push_async_callback(self.pulse.stop)
            if self.step_interval is not None:
                stepper = asyncio.create_task(self._step_loop(self.step_interval),
                                              name="kana-sim-engine-step")
                stack.push_async_callback(_cancel, stepper)
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.rest_url = f"http://{host}:{rest_port}"
            self.ws_url = self.ws.url
            self.node_url = f"http://{host}:{node_port}/v1"
            if self.pulse is not None:
                self.pulse_ws_url = self.pulse.ws_url
                self.pulse_http_url = self.pulse.http_url
            self._stack = stack.pop_all()
        logger.info("simulator running: %s", self.urls)

    async def close(self) -> None:
        """Stop stepping, close every connection and socket; safe to call twice.

        :raises asyncio.CancelledError: only if the task awaiting it is cancelled; closing
           never fails otherwise
        """
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, stack: AsyncExitStack, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        bound: int = runner.addresses[0][1]
        return bound

    async def _step_loop(self, interval: float) -> None:
        """The exchange's clock: one step of each engine per ``interval``, whatever a step
        raises (the first three failures of each engine are logged)."""
        failures = 0
        pulse_failures = 0
        while True:
            try:
                self.engine.step()
            except Exception:
                failures += 1
                if failures <= 3:
                    logger.exception("engine step failed")
            if self.pulse is not None:
                try:
                    self.pulse.engine.step()
                except Exception:
                    pulse_failures += 1
                    if pulse_failures <= 3:
                        logger.exception("Pulse engine step failed")
            await asyncio.sleep(interval)


async def _cancel(task: asyncio.Task[None]) -> None:
    await cancel_and_wait(task)
