"""Config of the gRPC listener and its per-stream limits."""

from typing import Annotated, Literal

from pydantic import Field

from sluice.core.config.base import ComponentConfig
from sluice.core.config.tls import TlsConfig

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_INFLIGHT_PER_STREAM = 32
DEFAULT_MAX_STREAMS_PER_CONNECTION = 100
DEFAULT_MAX_STREAMS = 10_000
DEFAULT_MAX_ID_LENGTH = 128
DEFAULT_IDLE_STREAM_TIMEOUT_S = 300.0
DEFAULT_QUEUE_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_QUEUE_MAX_READINGS = 2_000_000
DEFAULT_BACKPRESSURE_TIMEOUT_S = 5.0
DEFAULT_DEDUP_ENTRIES = 200_000
DEFAULT_DRAIN_TIMEOUT_S = 30.0
GRPC_INT_MAX = 2**31 - 1
"""The largest channel argument gRPC takes (a C int): a larger limit fails the server's start."""
GRPC_MS_MAX_S = GRPC_INT_MAX / 1000
"""The longest time gRPC takes as a channel argument in milliseconds, in seconds (~24.8 days)."""
STREAM_HEADROOM = 16
"""HTTP/2 streams a connection may open beyond ``server.max_streams_per_connection``."""


CpuScheduling = Literal["batch", "normal"]
"""Linux scheduling policies a worker may run under (``server.cpu_scheduling``)."""


class ServerConfig(ComponentConfig):
    """The gRPC listener: address, message and stream limits, admission control and drain."""

    listen: str = DEFAULT_LISTEN
    """host:port of the gRPC listener. Port 0 picks a free port."""
    tls: TlsConfig | None = None
    """{cert_file, key_file, client_ca_file}: TLS, and mTLS with a client CA; SIGHUP reloads."""
    max_message_bytes: Annotated[int, Field(gt=0, le=GRPC_INT_MAX)] = DEFAULT_MAX_MESSAGE_BYTES
    """Largest gRPC message accepted; larger ones end the call with RESOURCE_EXHAUSTED."""
    max_streams_per_connection: Annotated[int, Field(gt=0, le=GRPC_INT_MAX - STREAM_HEADROOM)] = (
        DEFAULT_MAX_STREAMS_PER_CONNECTION
    )
    """Ingest.Stream calls open at once on one connection; one more ends RESOURCE_EXHAUSTED."""
    max_streams: Annotated[int, Field(gt=0, le=GRPC_INT_MAX)] = DEFAULT_MAX_STREAMS
    """Ingest.Stream calls open at once in one worker; one more ends RESOURCE_EXHAUSTED. Also
    how many new calls grpc lets wait for the worker when above grpc's own limits (1,000, at
    most 3,000), so that a fleet reconnecting at once is served."""
    max_id_length: Annotated[int, Field(gt=0)] = DEFAULT_MAX_ID_LENGTH
    """Longest source_id and session_id; a longer one REJECTs the batch (*_ID_INVALID)."""
    inflight_per_stream: Annotated[int, Field(gt=0)] = DEFAULT_INFLIGHT_PER_STREAM
    """Batches a stream may have read and not yet acknowledged; past it, reading pauses."""
    queue_max_bytes: Annotated[int, Field(gt=0)] = DEFAULT_QUEUE_MAX_BYTES
    """Bytes read and not yet acknowledged, across the process."""
    queue_max_readings: Annotated[int, Field(gt=0)] = DEFAULT_QUEUE_MAX_READINGS
    """Readings read and not yet acknowledged, across the process."""
    backpressure_timeout_s: Annotated[float, Field(gt=0)] = DEFAULT_BACKPRESSURE_TIMEOUT_S
    """How long a batch waits for queue room before it is answered UNAVAILABLE."""
    dedup_entries: Annotated[int, Field(ge=0)] = DEFAULT_DEDUP_ENTRIES
    """Acks remembered per process to answer resent (session_id, seq) without producing."""
    max_connection_age_s: Annotated[float, Field(gt=0, le=GRPC_MS_MAX_S)] | None = None
    """Streams and connections older than this drain, so clients spread over new pods."""
    max_connection_age_grace_s: Annotated[float, Field(gt=0, le=GRPC_MS_MAX_S)] = 60.0
    """Time a draining connection is given; at least the Kafka delivery timeout."""
    idle_stream_timeout_s: Annotated[float, Field(gt=0)] | None = DEFAULT_IDLE_STREAM_TIMEOUT_S
    """A stream the server waits on this long for a message ends DEADLINE_EXCEEDED; null: never."""
    drain_timeout_s: Annotated[float, Field(gt=0)] = DEFAULT_DRAIN_TIMEOUT_S
    """How long SIGTERM waits for in-flight batches before giving up on them."""
    keepalive_min_time_s: Annotated[float, Field(gt=0, le=GRPC_MS_MAX_S)] = 10.0
    """Clients pinging more often than this are sent GOAWAY (keepalive enforcement)."""
    cpu_scheduling: CpuScheduling = "batch"
    """Linux scheduling policy of each worker: ``batch`` (SCHED_BATCH) lets its helper threads
    wake without preempting the event loop (more readings per CPU-second); ``normal`` keeps
    the default policy."""
