"""Deprecated import path, kept for one release: the terminal views moved to
:mod:`kana_async.cli.views` (terminal rendering belongs to the command line). Import from there;
this module only re-exports its public names and will be removed in the next release."""

from .cli.views import (
    Grid,
    OrderLine,
    book_top,
    format_decimal,
    format_seconds,
    funding_rates,
    on_grid,
    on_step,
    open_orders,
    order_log,
    position_card,
    positions,
    stream_stats,
    unrealized_pnl,
)

__all__ = [
    "Grid",
    "OrderLine",
    "book_top",
    "format_decimal",
    "format_seconds",
    "funding_rates",
    "on_grid",
    "on_step",
    "open_orders",
    "order_log",
    "position_card",
    "positions",
    "stream_stats",
    "unrealized_pnl",
]
