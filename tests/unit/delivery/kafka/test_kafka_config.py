"""The ``kafka`` section is checked by librdkafka itself: what it would refuse when ``serve``
makes its producer is a configuration error naming the key, at validation."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer

from sluice.core.config.base import ConfigError
from sluice.core.config.settings import load_settings
from sluice.core.netutil import free_port
from sluice.delivery.kafka.client import producer_settings


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SLUICE__KAFKA__LINGER_MS": "1e30"}, r"kafka\.linger_ms: .*linger\.ms"),
        ({"SLUICE__KAFKA__QUEUE_MAX_MESSAGES": "99999999999"}, r"kafka\.queue_max_messages"),
        ({"SLUICE__KAFKA__DELIVERY_TIMEOUT_MS": "99999999999999"}, r"kafka\.delivery_timeout_ms"),
        ({"SLUICE__KAFKA__CLIENT__SSL_TYPO": "1"}, r"kafka\.client: .*ssl_typo"),
        ({"SLUICE__KAFKA__CLIENT__SOCKET.KEEPALIVE.ENABLE": "maybe"}, r"socket\.keepalive"),
        (
            {"SLUICE__KAFKA__LINGER_MS": "40000"},
            r"kafka: .*\(kafka\.delivery_timeout_ms\) must be greater than .*\(kafka\.linger_ms\)",
        ),
        (
            {"SLUICE__KAFKA__CLIENT__MAX.IN.FLIGHT.REQUESTS.PER.CONNECTION": "10"},
            r"kafka: .*max\.in\.flight",
        ),
    ],
)
def test_what_librdkafka_refuses_is_a_config_error_naming_the_key(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=environ)


def test_tls_files_are_left_to_the_server_that_mounts_them() -> None:
    # A config is often checked where its CA is not mounted (CI, a laptop); the server's own
    # producer reads the file.
    environ = {
        "SLUICE__KAFKA__CLIENT__SECURITY.PROTOCOL": "SSL",
        "SLUICE__KAFKA__CLIENT__SSL.CA.LOCATION": "/nowhere/ca.crt",
    }

    settings = load_settings(environ=environ)

    assert settings.kafka.client["ssl.ca.location"] == "/nowhere/ca.crt"


def test_what_validation_accepts_librdkafka_makes_a_producer_of() -> None:
    environ = {
        "SLUICE__KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "SLUICE__KAFKA__LINGER_MS": "20",
        "SLUICE__KAFKA__COMPRESSION": "zstd",
        "SLUICE__KAFKA__CLIENT__SOCKET.KEEPALIVE.ENABLE": "true",
        "SLUICE__KAFKA__CLIENT__BATCH.NUM.MESSAGES": "5000",
    }
    settings = load_settings(environ=environ)

    try:
        Producer({**producer_settings(settings.kafka, {}), "log_level": 0})
    except KafkaException as error:
        pytest.fail(f"validation passed what librdkafka refuses: {error}")
