"""The librdkafka settings every Sluice producer uses, and its delivery counters."""

from __future__ import annotations

import logging
from typing import Any

from sluice.core.config.kafka import KafkaConfig
from sluice.ops.metrics import Metrics

librdkafka_log = logging.getLogger("sluice.kafka.librdkafka")


def producer_settings(config: KafkaConfig, callbacks: dict[str, Any]) -> dict[str, Any]:
    """The ``Producer`` settings for ``config`` (``KafkaConfig.producer_properties``), with
    the poller's ``callbacks``."""
    return {
        **config.producer_properties(),
        **callbacks,
        "logger": librdkafka_log,  # librdkafka's own lines join the JSON log, via poll()
    }


class DeliveryCounters:
    """``sluice_records_produced`` by topic and ``sluice_delivery_errors`` by error, with the
    labelled children cached so a delivery round pays one dict lookup per topic."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._produced: dict[str, Any] = {}
        self._errors: dict[str, Any] = {}

    def produced(self, topic: str, count: int) -> None:
        """``count`` records delivered to ``topic``."""
        counter = self._produced.get(topic)
        if counter is None:
            counter = self._produced[topic] = self._metrics.records_produced.labels(topic=topic)
        counter.inc(count)

    def error(self, name: str) -> None:
        """One record failed with the librdkafka error ``name``."""
        counter = self._errors.get(name)
        if counter is None:
            counter = self._errors[name] = self._metrics.delivery_errors.labels(error=name)
        counter.inc()
