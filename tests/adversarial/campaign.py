"""What every adversarial test shares: the case counter, and the status table as a check."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import grpc
from hypothesis import HealthCheck, settings

from sluice.core import reasons
from sluice.core.config.server import DEFAULT_MAX_ID_LENGTH
from sluice.v1.ingest_pb2 import Ack, AckStatus, ReadingBatch

T = TypeVar("T")

CASES: Counter[str] = Counter()
"""Cases sent to a server, by kind; the conftest prints the total at the end of the session."""

OUTCOMES: Counter[str] = Counter()
"""The answers those cases got: Ack statuses and gRPC status codes."""

CALL_TIMEOUT_S = 15.0
"""No call may take longer: a hang is a failure."""

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Hypothesis settings for examples that each make a real call; examples are capped per test."""

S = AckStatus
TABLE = {S.ACK_STATUS_OK, S.ACK_STATUS_PARTIAL, S.ACK_STATUS_REJECTED}
"""What a server without rate limits and with Kafka up may answer (DESIGN.md status table)."""
STREAM_ERRORS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
"""The stream-level errors bad input may get."""


def count(kind: str, n: int = 1) -> None:
    """Count ``n`` cases of ``kind``."""
    CASES[kind] += n


def check_ack(ack: Ack, sent: ReadingBatch) -> None:
    """``ack`` is a row of the status table for ``sent``."""
    OUTCOMES[AckStatus.Name(ack.status).removeprefix("ACK_STATUS_")] += 1
    n = len(sent.readings)
    assert ack.seq == sent.seq
    assert ack.status in TABLE, ack
    indices = [r.index for r in ack.rejections]
    assert len(set(indices)) == len(indices), ack
    assert all(0 <= i < n for i in indices), ack
    assert all(r.reason in reasons.READING_REASONS for r in ack.rejections), ack
    if ack.status == S.ACK_STATUS_OK:
        assert (ack.accepted, len(ack.rejections)) == (n, 0), (ack, sent)
    elif ack.status == S.ACK_STATUS_PARTIAL:
        assert 0 < ack.accepted < n, ack
        assert ack.accepted + len(ack.rejections) == n, ack
    else:
        assert ack.accepted == 0, ack
        assert ack.reason in reasons.BATCH_REASONS, ack
        if ack.reason == reasons.NO_VALID_READINGS:
            assert len(ack.rejections) == n, ack
    rejected = {r.index: r.reason for r in ack.rejections}
    for index, reading in enumerate(sent.readings):
        if index in rejected or (ack.status == S.ACK_STATUS_REJECTED and not ack.rejections):
            continue
        # Whatever was accepted passed the checks a client can see for itself.
        assert math.isfinite(reading.value), (index, ack)
        assert reading.device_id, (index, ack)
        assert reading.metric, (index, ack)


ANSWERED_BEFORE_DEDUP = frozenset({reasons.SOURCE_ID_INVALID, reasons.SESSION_ID_INVALID})
"""Refusals the server gives before it looks a batch up in its dedup cache (never remembered)."""


class FirstSent:
    """The batch a server answers for: the first one sent under each (session_id, seq).

    The server answers a (session_id, seq) it has acknowledged from memory (DESIGN.md,
    "Repeated batches"), and generated batches do collide (and hypothesis replays them).
    """

    def __init__(self) -> None:
        self._first: dict[tuple[str, int], ReadingBatch] = {}

    def __call__(self, sent: ReadingBatch, ack: Ack) -> ReadingBatch:
        if not sent.session_id or ack.reason in ANSWERED_BEFORE_DEDUP:
            return sent
        return self._first.setdefault((sent.session_id, sent.seq), sent)


def ids_too_long(batch: ReadingBatch) -> bool:
    """True if the server refuses ``batch`` for an id over ``server.max_id_length``."""
    return max(len(batch.session_id), len(batch.source_id)) > DEFAULT_MAX_ID_LENGTH


def answered_batches(sent: list[ReadingBatch], acks: list[Ack]) -> list[ReadingBatch]:
    """The batch each of ``acks`` answers, from one stream's ``sent`` batches of one session.

    Acks carry only a seq and may arrive out of order. A batch refused for an over-long id is
    answered on its own; every other batch of a seq is answered as the first of them.
    """
    refused: dict[int, list[ReadingBatch]] = {}
    first: dict[int, ReadingBatch] = {}
    for batch in sent:
        if ids_too_long(batch):
            refused.setdefault(batch.seq, []).append(batch)
        else:
            first.setdefault(batch.seq, batch)
    answered = []
    for ack in acks:
        if ack.reason in ANSWERED_BEFORE_DEDUP:
            assert refused.get(ack.seq), ("refused for an id, but none was too long", ack)
            answered.append(refused[ack.seq].pop())
        else:
            assert ack.seq in first, ("no batch with this seq had ids within the limit", ack)
            answered.append(first[ack.seq])
    assert not any(refused.values()), ("a batch with an over-long id was not refused", refused)
    return answered


def outcome(call: Callable[[], T]) -> T | grpc.RpcError:
    """What ``call`` returned, or the gRPC error it raised."""
    try:
        return call()
    except grpc.RpcError as error:
        return error


def check_error(error: grpc.RpcError, allowed: set[grpc.StatusCode]) -> None:
    """``error`` ended the call with one of the ``allowed`` codes."""
    OUTCOMES[error.code().name] += 1
    assert error.code() in allowed, (error.code(), error.details())
