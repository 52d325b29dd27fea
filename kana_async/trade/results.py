"""What became of a transaction: :class:`TxResult`, and the Kana events it carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import TransactionFailedError
from . import events as _events
from .events import Fill, TxEvent

__all__ = ["TxResult"]


@dataclass(frozen=True, slots=True)
class TxResult:
    """What became of a transaction.

    ``committed`` is False while it is pending (``wait=False``) and when it expired without
    ever being committed. ``success`` is None while pending. A committed transaction that
    failed (a Move abort) has ``success=False`` and the reason in ``vm_status``; call
    :meth:`raise_for_status` to turn that into :class:`~kana_async.TransactionFailedError`.

    ``events`` are the events the node reported for the committed transaction (none while
    pending, none when it failed); :attr:`order_ids`, :attr:`cancelled_order_ids` and
    :attr:`fills` read Kana's order events among them.
    """

    tx_hash: str
    sequence_number: int
    committed: bool
    success: bool | None
    vm_status: str
    version: int | None = None
    gas_used: int | None = None
    events: tuple[TxEvent, ...] = field(default=(), repr=False, hash=False)

    @property
    def pending(self) -> bool:
        """True while the outcome is not known yet (submitted with ``wait=False``)."""
        return self.success is None

    @property
    def order_ids(self) -> list[str]:
        """Ids of the orders this transaction placed, in placement order, as the node reported
        them. Empty when it placed none, is pending or failed, or the node reports no events.
        An order whose rest could not stay on the book (a market or immediate-or-cancel order
        not filled in full) is placed and cancelled at once: it is in both lists."""
        return _events.placed_order_ids(self.events)

    @property
    def cancelled_order_ids(self) -> list[str]:
        """Ids of the orders this transaction cancelled, as the node reported them."""
        return _events.cancelled_order_ids(self.events)

    @property
    def fills(self) -> list[Fill]:
        """The matches this transaction's orders made, in order, as the node reported them."""
        return _events.fills(self.events)

    def raise_for_status(self) -> TxResult:
        """This result, unless the transaction committed and failed.

        :raises TransactionFailedError: if it committed with ``success=False`` (a Move abort;
            ``vm_status`` says why). A pending or expired result is returned as it is.
        """
        if self.success is False:
            raise TransactionFailedError(self.tx_hash, self.vm_status)
        return self

    @classmethod
    def from_node(cls, tx: Mapping[str, Any]) -> TxResult:
        """The result a node's transaction JSON (pending or committed) describes.

        :raises KeyError: if a field every node sends (``hash``, ``sequence_number``,
            ``success``) is missing.
        """
        if tx.get("type") == "pending_transaction":
            return cls(str(tx["hash"]), int(tx["sequence_number"]), False, None, "pending")
        return cls(
            tx_hash=str(tx["hash"]),
            sequence_number=int(tx["sequence_number"]),
            committed=True,
            success=bool(tx["success"]),
            vm_status=str(tx.get("vm_status", "")),
            version=int(tx["version"]) if tx.get("version") is not None else None,
            gas_used=int(tx["gas_used"]) if tx.get("gas_used") is not None else None,
            events=_events.parse_events(tx.get("events")),
        )
