"""Gateways for the fault scenarios: SDK clients that stream readings with known identities.

Reading ``i`` of gateway ``g`` carries the tag ``rid = "g:i"``, so the readings found in
Kafka can be matched one by one against the readings the gateways had acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sluice.v1.ingest_pb2 import Reading
from sluice_client import Backoff, IngestClient

BATCH_READINGS = 100
CLOSE_TIMEOUT_S = 90.0
RECONNECT = Backoff(initial_s=0.05, max_s=0.5)
COUNTED = (
    "batches_sent",
    "batches_acked",
    "readings_sent",
    "readings_accepted",
    "readings_rejected",
    "resends",
    "reconnects",
    "unavailable",
)


def reading(gateway: int, index: int) -> Reading:
    """Reading ``index`` of ``gateway``: valid, and named by its ``rid`` tag."""
    return Reading(
        device_id=f"dev-{gateway}-{index % 10}",
        metric="temperature",
        value=float(index),
        unit="°C",
        time_unix_nano=time.time_ns(),
        tags={"rid": f"{gateway}:{index}"},
    )


@dataclass
class Gateways:
    """``count`` SDK clients, each one stream, each sending ``per_gateway`` readings at ``rate``
    readings per second (batches of ``BATCH_READINGS``)."""

    target: str
    count: int = 4
    per_gateway: int = 5_000
    rate: float = 2_000.0
    max_inflight: int = 32
    clients: list[IngestClient] = field(default_factory=list)
    sent: int = 0

    async def start(self) -> None:
        """Open every client's stream."""
        for index in range(self.count):
            client = IngestClient(
                self.target,
                source_id=f"gw-{index}",
                max_batch_readings=BATCH_READINGS,
                linger_s=0.05,
                max_inflight=self.max_inflight,
                backoff=RECONNECT,
            )
            await client.start()
            self.clients.append(client)

    async def launch(self) -> asyncio.Task[None]:
        """Open the streams and start streaming in the background."""
        await self.start()
        return asyncio.create_task(self.stream())

    async def stream(self) -> None:
        """Send every reading, paced; returns once all are handed to the clients."""
        await asyncio.gather(*(self._one(index) for index in range(self.count)))

    async def _one(self, index: int) -> None:
        client = self.clients[index]
        interval = BATCH_READINGS / self.rate
        started = time.monotonic()
        for first in range(0, self.per_gateway, BATCH_READINGS):
            last = min(first + BATCH_READINGS, self.per_gateway)
            await client.send_many(reading(index, i) for i in range(first, last))
            self.sent += last - first
            ahead = started + (last / BATCH_READINGS) * interval - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def close(self) -> dict[str, int]:
        """Wait for every Ack (resending as needed) and close; the totals of all clients."""
        await asyncio.gather(*(c.close(CLOSE_TIMEOUT_S) for c in self.clients))
        return self.totals()

    def totals(self) -> dict[str, int]:
        """The counters of all clients added up, as of now."""
        stats = [client.stats for client in self.clients]
        return {name: sum(getattr(one, name) for one in stats) for name in COUNTED}

    def rids(self) -> set[str]:
        """The identity of every reading the gateways were given."""
        return {f"{g}:{i}" for g in range(self.count) for i in range(self.per_gateway)}
