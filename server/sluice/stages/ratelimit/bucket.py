"""A token bucket with exact, loop-free refill arithmetic and a caller-supplied clock."""

from __future__ import annotations

_SLACK = 1e-9
"""Tokens short of a request that still count as enough, relative to the burst.

Float rounding can leave a bucket a few ulps short after waiting exactly the time
``wait_for`` returned; without the slack the caller would wait again for a nanosecond.
"""


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; times are monotonic seconds.

    The bucket starts full. A request larger than ``burst`` is granted once the bucket is full
    and leaves it in debt, so an oversized request is slowed, never refused forever. Tokens
    taken past what is available (a reservation) are debt too: later requests wait it out.
    """

    __slots__ = ("_slack", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"rate and burst must be positive, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now
        self._slack = burst * _SLACK

    def level(self, now: float) -> float:
        """Tokens available at ``now`` (negative while in debt), capped at ``burst``."""
        tokens = self._tokens
        elapsed = now - self._stamp
        if elapsed > 0:
            tokens += elapsed * self.rate
            if tokens > self.burst:
                return self.burst
        return tokens

    def wait_for(self, n: float, now: float) -> float:
        """Seconds until ``n`` tokens are available (0.0 if they are now); changes nothing."""
        need = n if n < self.burst else self.burst
        missing = need - self.level(now)
        if missing <= self._slack:
            return 0.0
        return missing / self.rate

    def take(self, n: float, now: float) -> None:
        """Deduct ``n`` tokens at ``now``, going into debt if there are not enough."""
        self._tokens = self.level(now) - n
        self._stamp = now

    def give_back(self, n: float, now: float) -> None:
        """Return ``n`` tokens taken earlier and not used (capped at ``burst``)."""
        tokens = self.level(now) + n
        self._tokens = tokens if tokens < self.burst else self.burst
        self._stamp = now

    def is_full(self, now: float) -> bool:
        """True when the bucket is full at ``now``, so it is indistinguishable from a new one."""
        return self.level(now) >= self.burst
