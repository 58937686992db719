"""The circuit breaker towards Kafka: whether batches should be sent there now.

    CLOSED ──trip──▶ OPEN ──probe ok──▶ HALF_OPEN ──a delivery──▶ CLOSED
                      ▲  └─probe failed─┘  │
                      └────────trip────────┘

- **Trips** (CLOSED or HALF_OPEN to OPEN): librdkafka says every broker is down; records wait
  ``stall_timeout_ms`` with no delivery report at all (a hung broker); or
  ``failure_threshold`` retryable delivery failures come in a row.
- **OPEN**: batches are spooled, or answered UNAVAILABLE when there is no spool. After a
  backoff that doubles per failed attempt (``backoff_initial_ms`` up to ``backoff_max_ms``,
  with jitter so a fleet of pods does not probe in step), a probe asks for metadata.
- **HALF_OPEN**: the probe succeeded; records flow again (the spool replays first) and the
  first delivery closes the breaker. A trip here reopens it with a longer backoff.

The breaker is a plain state machine with an injectable clock and random source; the
producer feeds it and runs the probes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from enum import Enum

from sluice.core.config.kafka import BreakerConfig

log = logging.getLogger(__name__)


class BreakerState(Enum):
    """Where the breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Listener = Callable[[BreakerState], None]


def jittered(attempt: int, initial_s: float, max_s: float, rng: Callable[[], float]) -> float:
    """Backoff for retry ``attempt`` (0-based): half of ``min(max_s, initial_s·2^attempt)``
    plus a random part of the other half, so waits grow but never collapse to zero."""
    ceiling = min(max_s, initial_s * 2.0 ** min(attempt, 32))
    return ceiling / 2 + rng() * ceiling / 2


class CircuitBreaker:
    """Kafka's reachability as the sink acts on it."""

    def __init__(
        self,
        config: BreakerConfig,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng
        self._state = BreakerState.CLOSED
        self._since = clock()
        self._attempt = 0
        self._failures = 0
        self._probe_at = 0.0
        self._listeners: list[Listener] = []

    @property
    def state(self) -> BreakerState:
        """The current state."""
        return self._state

    @property
    def is_open(self) -> bool:
        """True while batches must not be sent to Kafka."""
        return self._state is BreakerState.OPEN

    @property
    def since(self) -> float:
        """Clock time of the last change of state."""
        return self._since

    @property
    def stall_timeout_s(self) -> float:
        """How long records may wait with no delivery report before the breaker trips."""
        return self._config.stall_timeout_ms / 1000

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(state)`` on every change of state."""
        self._listeners.append(listener)

    def record_success(self) -> None:
        """A record was delivered."""
        self._failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._attempt = 0
            self._change(BreakerState.CLOSED, "a record was delivered")

    def record_failure(self, what: str) -> None:
        """A record failed with an error that may pass (a timeout, a transport error)."""
        self._failures += 1
        if self._failures >= self._config.failure_threshold:
            self.trip(f"{self._failures} delivery failures in a row, the last: {what}")

    def trip(self, reason: str) -> None:
        """Open the breaker (no-op when open)."""
        if self._state is BreakerState.OPEN:
            return
        if self._state is BreakerState.HALF_OPEN:
            self._attempt += 1
        self._failures = 0
        self._schedule_probe()
        self._change(BreakerState.OPEN, reason)

    def probe_due(self) -> bool:
        """True when the breaker is open and its backoff is over."""
        return self._state is BreakerState.OPEN and self._clock() >= self._probe_at

    def probe_failed(self, reason: str) -> None:
        """The probe found Kafka still unreachable: wait longer before the next."""
        if self._state is not BreakerState.OPEN:
            return
        self._attempt += 1
        self._schedule_probe()
        log.info("Kafka probe failed", extra={"reason": reason, "attempt": self._attempt})

    def probe_succeeded(self) -> None:
        """The probe reached Kafka: let records through until one is delivered."""
        if self._state is BreakerState.OPEN:
            self._change(BreakerState.HALF_OPEN, "a probe reached the cluster")

    def _schedule_probe(self) -> None:
        config = self._config
        wait = jittered(
            self._attempt,
            config.backoff_initial_ms / 1000,
            config.backoff_max_ms / 1000,
            self._rng,
        )
        self._probe_at = self._clock() + wait

    def _change(self, state: BreakerState, reason: str) -> None:
        previous, self._state = self._state, state
        self._since = self._clock()
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        log.log(
            level,
            "Kafka circuit breaker %s",
            state.value,
            extra={"from": previous.value, "reason": reason, "attempt": self._attempt},
        )
        for listener in list(self._listeners):
            listener(state)
