"""The keyword options of IngestClient, as a type the sync wrapper can forward."""

from collections.abc import Sequence
from typing import TypedDict

from sluice_client.acks import RejectionCallback
from sluice_client.backoff import Backoff
from sluice_client.channel import ChannelOptions, ClientInterceptors, TlsOptions


class ClientOptions(TypedDict, total=False):
    """Keyword arguments of ``IngestClient`` (see its docstring)."""

    source_id: str
    session_id: str | None
    max_batch_readings: int
    max_batch_bytes: int
    linger_s: float
    max_inflight: int
    backoff: Backoff | None
    token: str | None
    tls: TlsOptions | None
    metadata: Sequence[tuple[str, str]]
    extra_channel_options: ChannelOptions
    interceptors: ClientInterceptors
    on_rejection: RejectionCallback | None
    first_seq: int
