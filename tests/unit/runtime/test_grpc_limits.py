"""gRPC's limits in the config: the largest values gRPC takes start a server; larger ones are
refused by the config, naming the key, rather than failing the server's start."""

from __future__ import annotations

import grpc
import pytest

from sluice.core.config.base import ConfigError
from sluice.core.config.server import GRPC_INT_MAX, GRPC_MS_MAX_S, STREAM_HEADROOM
from sluice.core.config.settings import Settings, load_settings
from sluice.runtime.worker import grpc_options

LARGEST = {
    "max_message_bytes": str(GRPC_INT_MAX),
    "max_streams_per_connection": str(GRPC_INT_MAX - STREAM_HEADROOM),
    "max_streams": str(GRPC_INT_MAX),
    "keepalive_min_time_s": str(GRPC_MS_MAX_S),
    "max_connection_age_s": str(GRPC_MS_MAX_S),
    "max_connection_age_grace_s": str(GRPC_MS_MAX_S),
}


def server_settings(**server: str) -> Settings:
    return load_settings(
        None, environ={f"SLUICE__SERVER__{k.upper()}": v for k, v in server.items()}
    )


async def test_the_largest_limits_start_a_grpc_server() -> None:
    server = grpc.aio.server(options=grpc_options(server_settings(**LARGEST)))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert port > 0
    finally:
        await server.stop(None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_message_bytes", str(GRPC_INT_MAX + 1)),
        ("max_message_bytes", "9" * 30),
        ("max_streams_per_connection", str(GRPC_INT_MAX)),
        ("max_streams", str(GRPC_INT_MAX + 1)),
        ("keepalive_min_time_s", "1e10"),
        ("max_connection_age_s", "1e10"),
        ("max_connection_age_grace_s", "1e10"),
    ],
)
def test_a_limit_beyond_grpc_is_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"server\.{key}"):
        server_settings(**{key: value})
