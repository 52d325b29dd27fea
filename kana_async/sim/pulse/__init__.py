"""The simulated Pulse v2 gateway: JSON-RPC over WebSocket ``/ws/api/v2`` and HTTP
``/api/v2/{public|private}/{method}``, on 127.0.0.1.

``Simulator()`` serves it (``sim.pulse``, ``sim.pulse_ws_url``, ``sim.pulse_http_url``); a
:class:`PulseServer` can also be run on its own around a :class:`PulseEngine` and an
:class:`Authenticator`. :class:`PulseFaults` scripts what goes wrong; :class:`PulseConfig` says
how strict and how fast it is.
"""

from .auth import Authenticator
from .config import PulseConfig
from .engine import PulseEngine
from .faults import PulseFaults
from .server import PulseServer

__all__ = ["Authenticator", "PulseConfig", "PulseEngine", "PulseFaults", "PulseServer"]
