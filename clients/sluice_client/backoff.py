"""Exponential backoff with full jitter."""

import random
from dataclasses import dataclass

DEFAULT_INITIAL_S = 0.1
DEFAULT_MAX_S = 10.0
DEFAULT_MULTIPLIER = 2.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays for retry ``attempt`` 0, 1, 2…: uniform in [0, min(max_s, initial_s·multiplier^n)].

    Full jitter spreads a fleet of gateways that lost the same server over the whole window,
    instead of bringing them back in waves.
    """

    initial_s: float = DEFAULT_INITIAL_S
    max_s: float = DEFAULT_MAX_S
    multiplier: float = DEFAULT_MULTIPLIER

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s < self.initial_s or self.multiplier < 1:
            raise ValueError("Backoff needs 0 < initial_s <= max_s and multiplier >= 1")

    def ceiling(self, attempt: int) -> float:
        """The largest delay retry ``attempt`` may draw."""
        # Cap the exponent so that large attempt counts cannot overflow a float.
        return min(self.max_s, self.initial_s * self.multiplier ** min(attempt, 64))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A random delay for retry ``attempt`` (0-based)."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))
