"""Remembers the Acks of batches, so a resent (session_id, seq) is not produced twice."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from sluice.v1.ingest_pb2 import Ack

AckKey = tuple[str, str, int]
"""(tenant, session_id, seq): the name of a batch within a tenant."""


def key_for(tenant: str, session_id: str, seq: int) -> AckKey | None:
    """The cache key of a batch, or None when it has no ``session_id`` and cannot be named.

    Batches without a session_id are never cached nor joined: without it, two different
    batches from different clients may share a seq.
    """
    if not session_id:
        return None
    return (tenant, session_id, seq)


class AckCache:
    """The final Acks of recent batches, and the batches still awaiting delivery.

    ``get``/``put`` hold at most ``max_entries`` Acks and evict the least recently used.
    The caller stores only final outcomes (a resend would get the same answer), and stores
    one before, or in the same step as, resolving the batch's in-flight future, so a resend
    always finds one or the other.

    ``inflight_get``/``inflight_put`` let a resend that arrives while the original still
    awaits delivery wait for the original's Ack instead of producing again; an entry leaves
    when its future completes. Its size is bounded by the receiver's in-flight budget.

    ``max_entries == 0`` disables both: every batch is produced as sent.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self._max_entries = max_entries
        self._acks: OrderedDict[AckKey, Ack] = OrderedDict()
        self._inflight: dict[AckKey, asyncio.Future[Ack]] = {}

    @staticmethod
    def key_for(tenant: str, session_id: str, seq: int) -> AckKey | None:
        """The cache key of a batch, or None when it has no ``session_id`` (see ``key_for``)."""
        return key_for(tenant, session_id, seq)

    @property
    def enabled(self) -> bool:
        """False when ``max_entries`` is 0 and nothing is remembered."""
        return self._max_entries > 0

    def __len__(self) -> int:
        """Acks currently remembered."""
        return len(self._acks)

    @property
    def inflight_count(self) -> int:
        """Batches registered as awaiting delivery."""
        return len(self._inflight)

    def get(self, key: AckKey) -> Ack | None:
        """The remembered Ack of ``key``, marking it recently used; None if not remembered."""
        ack = self._acks.get(key)
        if ack is not None:
            self._acks.move_to_end(key)
        return ack

    def put(self, key: AckKey, ack: Ack) -> None:
        """Remember ``ack`` as the final Ack of ``key``, evicting the least recently used."""
        if not self._max_entries:
            return
        acks = self._acks
        acks[key] = ack
        acks.move_to_end(key)
        if len(acks) > self._max_entries:
            acks.popitem(last=False)

    def inflight_get(self, key: AckKey) -> asyncio.Future[Ack] | None:
        """The future of the batch named ``key`` if it is still awaiting delivery."""
        return self._inflight.get(key)

    def inflight_put(self, key: AckKey, future: asyncio.Future[Ack]) -> None:
        """Register ``future`` as the Ack of ``key`` to come; it is forgotten once done."""
        if not self._max_entries or future.done():
            return
        self._inflight[key] = future
        future.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: AckKey, future: asyncio.Future[Ack]) -> None:
        # A later resend may have registered a new future under the same key.
        if self._inflight.get(key) is future:
            del self._inflight[key]
