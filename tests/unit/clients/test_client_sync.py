"""SyncIngestClient: the async client on a background loop, driven from blocking code."""

import asyncio
import threading

import grpc
import pytest
from scripted_ingest import ScriptedIngest
from sdk_helpers import reading

from sluice.v1.ingest_pb2 import (
    ACK_STATUS_OK,
    ACK_STATUS_REJECTED,
    Ack,
    Reading,
    ReadingBatch,
    Rejection,
)
from sluice_client import AckTimeout, CallFailed, ClientStats, SyncIngestClient


async def test_send_flush_push_and_close_from_blocking_code(
    double: ScriptedIngest, target: str
) -> None:
    def use() -> tuple[ClientStats, bool, str]:
        with SyncIngestClient(target, max_batch_readings=2, linger_s=60.0) as client:
            client.send(reading(1))
            client.send_many([reading(2), reading(3)])
            client.flush(timeout=5.0)
            stats = client.stats
            ack = client.push(ReadingBatch(readings=[reading(4)]))
            assert ack.status == ACK_STATUS_OK
        return stats, _loop_thread_alive(), client.session_id

    stats, loop_thread_alive, session_id = await asyncio.to_thread(use)
    assert (stats.batches_acked, stats.readings_accepted) == (2, 3)
    assert double.batch_sizes() == [2, 1]
    assert {r.batch.session_id for r in double.received} == {session_id}
    assert double.pushed[0].seq == 3
    assert not loop_thread_alive


def _loop_thread_alive() -> bool:
    return any(thread.name == "sluice-client-loop" for thread in threading.enumerate())


async def test_rejections_reach_the_callback_on_the_client_thread(
    double: ScriptedIngest, target: str
) -> None:
    seen: list[tuple[int, str, str]] = []

    def on_rejection(seq: int, rejection: Rejection, reading: Reading | None) -> None:
        seen.append((seq, rejection.reason, threading.current_thread().name))

    double.responder = lambda stream, batch: stream.send(
        Ack(seq=batch.seq, status=ACK_STATUS_REJECTED, reason="BATCH_TOO_LARGE")
    )

    def use() -> None:
        with SyncIngestClient(target, on_rejection=on_rejection) as client:
            client.send(reading(1))
            client.flush(timeout=5.0)

    await asyncio.to_thread(use)
    assert seen == [(1, "BATCH_TOO_LARGE", "sluice-client-loop")]


async def test_flush_times_out_and_a_final_status_raises(
    double: ScriptedIngest, target: str
) -> None:
    double.responder = lambda stream, batch: None

    def flush_unanswered() -> None:
        client = SyncIngestClient(target)
        client.send(reading(1))
        with pytest.raises(AckTimeout):
            client.flush(timeout=0.2)
        with pytest.raises(AckTimeout):
            client.close(ack_timeout_s=0.1)

    await asyncio.to_thread(flush_unanswered)

    double.on_open = lambda stream: stream.end(grpc.StatusCode.UNAUTHENTICATED, "bad token")

    def unauthenticated() -> None:
        client = SyncIngestClient(target)
        client.send(reading(1))
        with pytest.raises(CallFailed) as raised:
            client.flush(timeout=5.0)
        assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(CallFailed):
            client.close()

    await asyncio.to_thread(unauthenticated)
