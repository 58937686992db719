"""Asking librdkafka itself whether it takes a set of client properties.

librdkafka checks every property's name, type and range, and some combinations, when a client
is made: ``kafka.client``, ``rollup.client`` and the ``kafka`` settings it is given are
checked here, at validation, by making a client of them and dropping it at once; what only
the server's own client can check is ``LEFT_OUT``. librdkafka's table of properties is never
copied here, so a new librdkafka's properties are taken as they come.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from confluent_kafka import Consumer, KafkaException, Producer

ClientKind = Literal["producer", "consumer"]
ClientValue = str | int | float | bool
"""A librdkafka property's value, as a config file gives it."""
INT_MAX: Final = 2**31 - 1
"""librdkafka's integer properties are C ints, and it wraps a larger value into range without
a word (99,999,999,999 messages becomes 1,215,752,191), so the keys Sluice maps onto them are
bounded here."""
LEFT_OUT: Final = frozenset({"bootstrap.servers", "security.protocol"})
"""Left to the client the server makes. Without ``bootstrap.servers`` a checked client
connects nowhere; with ``security.protocol`` set, making one loads the TLS files and the SASL
mechanism, which need not exist where the configuration is checked (CI, a laptop)."""
QUIET = {"log_level": 0}
"""No log line from a client that is only made to be checked (librdkafka warns on stderr
that it has no bootstrap.servers)."""


def refusal(properties: Mapping[str, object], kind: ClientKind = "producer") -> str | None:
    """Why librdkafka will not make a ``kind`` client of ``properties`` (``LEFT_OUT`` aside);
    None if it will."""
    settings = {name: value for name, value in properties.items() if name not in LEFT_OUT}
    try:
        if kind == "producer":
            Producer({**settings, **QUIET})
        else:
            Consumer({"group.id": "sluice-check-config", **settings, **QUIET})
    except KafkaException as exc:
        return str(exc.args[0].str()).strip()
    except (TypeError, ValueError) as exc:  # confluent-kafka's own checks of a value
        return str(exc)
    return None


def check_each(
    properties: dict[str, ClientValue], kind: ClientKind = "producer"
) -> dict[str, ClientValue]:
    """``properties`` as given, if librdkafka takes each one on its own; else a ``ValueError``
    naming the first it refuses, and why."""
    for name, value in properties.items():
        reason = refusal({name: value}, kind)
        if reason is not None:
            raise ValueError(f"{name}: librdkafka refuses it: {reason}")
    return properties
