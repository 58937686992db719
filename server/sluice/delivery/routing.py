"""Kafka or spool: where the durable sink sends a new batch, and whether it can take any.

The whole decision, as plain functions of the sink's state, so that it is tested on its own:

- **Without a spool**, a batch goes to Kafka unless the circuit breaker is open; then it is
  refused at once (UNAVAILABLE), since nothing could make it durable.
- **With a spool**, a batch goes to the spool while the breaker is open, and also while the
  spool holds anything, is replaying, or a purge of librdkafka's queue is unsettled (records
  from before the purge may still be in flight): new batches queue behind older ones, so
  each key keeps its order. Otherwise it goes to Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Route(Enum):
    """Where a new batch goes."""

    KAFKA = "kafka"
    SPOOL = "spool"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class SinkState:
    """What the decision depends on."""

    breaker_open: bool
    spooling: bool
    """A spool is configured."""
    spool_holds_data: bool = False
    replaying: bool = False
    """Spooled records are in flight to Kafka."""
    purges_unsettled: bool = False
    """A purge took records back and some produced before it await their report."""
    spool_full: bool = False


def route(state: SinkState) -> Route:
    """Where a new batch goes in ``state``."""
    if not state.spooling:
        return Route.REFUSE if state.breaker_open else Route.KAFKA
    if state.breaker_open or state.purges_unsettled or state.spool_holds_data or state.replaying:
        return Route.SPOOL
    return Route.KAFKA


def accepting(state: SinkState) -> bool:
    """False only when nothing can be made durable: the breaker is open and there is no
    spool, or it is full. Readiness follows it."""
    if not state.breaker_open:
        return True
    return state.spooling and not state.spool_full
