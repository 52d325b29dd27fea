"""The ``kana-async`` command.

Every subcommand is a :class:`Command` in :data:`COMMANDS`: a name, a help line, a function
that adds its options to an ``argparse`` parser, a function that runs it and returns the exit
status, and examples for ``--help``. Adding a subcommand is adding one entry. One module per
family: ``market`` (markets, price, book), ``account`` (positions, orders), ``trading``
(place, cancel, deposit, withdraw), ``streams`` (tail, record, replay), ``sim``, and the
``demo`` package; what they share: ``args`` (options and their types), ``connect`` (options to
a client), ``views`` (how values and exchange state are written) and ``output`` (where it goes).
"""

from .app import COMMANDS, build_parser, main
from .args import Command
from .sim import serve_simulator

__all__ = ["COMMANDS", "Command", "build_parser", "main", "serve_simulator"]
