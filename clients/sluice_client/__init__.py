"""Sluice client SDK: stream sensor readings to a Sluice server, and simulate device fleets.

``IngestClient`` (asyncio) keeps one ``Ingest.Stream`` open per session, batches readings,
and resends whatever was not acknowledged; ``SyncIngestClient`` wraps it for blocking code.
``Fleet`` simulates devices; ``sluice_client.simulator.main`` is ``sluice simulate``.
"""

from sluice.v1.ingest_pb2 import Ack, AckStatus, Location, Reading, ReadingBatch, Rejection
from sluice_client.acks import RejectionCallback
from sluice_client.backoff import Backoff
from sluice_client.channel import TlsOptions
from sluice_client.client import IngestClient
from sluice_client.errors import (
    AckTimeout,
    CallFailed,
    ClientClosed,
    ConnectError,
    SluiceClientError,
)
from sluice_client.fleet import Fleet, FleetStats
from sluice_client.options import ClientOptions
from sluice_client.stats import ClientStats
from sluice_client.sync import SyncIngestClient

__all__ = [
    "Ack",
    "AckStatus",
    "AckTimeout",
    "Backoff",
    "CallFailed",
    "ClientClosed",
    "ClientOptions",
    "ClientStats",
    "ConnectError",
    "Fleet",
    "FleetStats",
    "IngestClient",
    "Location",
    "Reading",
    "ReadingBatch",
    "Rejection",
    "RejectionCallback",
    "SluiceClientError",
    "SyncIngestClient",
    "TlsOptions",
]
