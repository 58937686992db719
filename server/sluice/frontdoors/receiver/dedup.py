"""Remembers the Acks of batches, so a resent (session_id, seq) is not produced twice."""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable

from sluice.frontdoors.receiver.acks import OK
from sluice.v1.ingest_pb2 import Ack

AckKey = bytes
"""The name of a batch within a tenant: a keyed 128-bit digest of (tenant, session_id, seq)."""
AckCallback = Callable[[Ack], None]

_KEY_SECRET = os.urandom(16)
"""Keys the digest, per process: a client cannot make two batches' names collide."""


def key_for(tenant: str, session_id: str, seq: int) -> AckKey | None:
    """The cache key of a batch, or None when it has no ``session_id`` and cannot be named.

    Batches without a session_id are never cached nor joined: without it, two different
    batches from different clients may share a seq.

    A digest rather than the tuple itself: a bytes object is not tracked by the cyclic
    garbage collector, and is 49 bytes whatever the ids' lengths. While a cache of tuples
    filled, every batch left one more tracked object behind, so CPython's young
    collections kept coming, each stopping the event loop to scan every open stream's
    waiting coroutines (70-120 ms at 4,000 streams). Two different batches share a digest
    with a chance of about n²/2¹²⁹ for n remembered Acks: never, in practice.
    """
    if not session_id:
        return None
    name = f"{len(tenant)}:{tenant}{len(session_id)}:{session_id}{seq}".encode()
    return hashlib.blake2b(name, digest_size=16, key=_KEY_SECRET).digest()


class AckCache:
    """The final Acks of recent batches, and the callers waiting on batches still in flight.

    ``get``/``put`` hold at most ``max_entries`` Acks and evict the least recently used; the
    caller stores only final outcomes (a resend would get the same answer). An Ack is held as
    little as restores it: the count of accepted readings when the batch passed whole (the
    resend brings its seq back), else the serialized message (~100 bytes rather than the
    ~550-900 of a message object). A full cache of the default 200,000 then costs tens of MB.

    ``begin``/``join``/``settle`` let a resend that arrives while the original still awaits
    delivery wait for the original's Ack instead of producing again. ``settle`` stores a
    final Ack and hands back every waiting callback in the same step, so a resend always
    finds one or the other. The in-flight map is bounded by the receiver's in-flight budget.

    ``max_entries == 0`` disables both: every batch is produced as sent.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self._max_entries = max_entries
        self._acks: OrderedDict[AckKey, int | bytes] = OrderedDict()
        self._inflight: dict[AckKey, list[AckCallback]] = {}
        # The function itself rather than a method calling it: asked for every batch.
        self.key_for: Callable[[str, str, int], AckKey | None] = (
            key_for if max_entries else _unnamed
        )
        """The key of a batch; None when it has no session_id or the cache is disabled."""

    def __len__(self) -> int:
        """Acks currently remembered."""
        return len(self._acks)

    @property
    def inflight_count(self) -> int:
        """Batches registered as awaiting delivery."""
        return len(self._inflight)

    def get(self, key: AckKey, seq: int) -> Ack | None:
        """The remembered Ack of ``key`` (the batch ``seq``), marking it recently used; None
        if not remembered."""
        kept = self._acks.get(key)
        if kept is None:
            return None
        self._acks.move_to_end(key)
        if isinstance(kept, int):
            return Ack(seq=seq, status=OK, accepted=kept)
        return Ack.FromString(kept)

    def put(self, key: AckKey, ack: Ack) -> None:
        """Remember ``ack`` as the final Ack of ``key`` (it carries the batch's seq), evicting
        the least recently used."""
        if not self._max_entries:
            return
        acks = self._acks
        acks[key] = ack.accepted if _plain_ok(ack) else ack.SerializeToString()
        acks.move_to_end(key)
        if len(acks) > self._max_entries:
            acks.popitem(last=False)

    def join(self, key: AckKey, on_ack: AckCallback) -> bool:
        """Wait for the copy of ``key`` in flight, if there is one; True if joined."""
        waiting = self._inflight.get(key)
        if waiting is None:
            return False
        waiting.append(on_ack)
        return True

    def begin(self, key: AckKey, on_ack: AckCallback) -> None:
        """Register the batch ``key`` as in flight, answered through ``on_ack``."""
        self._inflight[key] = [on_ack]

    def settle(self, key: AckKey, ack: Ack, final: bool) -> list[AckCallback]:
        """End the flight of ``key``: remember ``ack`` if ``final``; return who to answer."""
        if final:
            self.put(key, ack)
        return self._inflight.pop(key, [])


def _unnamed(_tenant: str, _session_id: str, _seq: int) -> None:
    """No batch has a key: the cache is disabled."""


def _plain_ok(ack: Ack) -> bool:
    """True if ``ack`` is OK and sets no field but seq, status and accepted
    (``tests/unit/frontdoors/receiver/test_dedup.py`` checks that these are all of Ack's)."""
    return ack.status == OK and not ack.rejections and not ack.retry_after_ms and not ack.reason
