"""The one interface every pipeline stage implements."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from sluice.core.batch import Batch


class Stage(Protocol):
    """A pipeline stage: it takes ownership of a batch and hands it to the next stage.

    ``consume`` is synchronous on the way a batch normally goes, so that a batch crosses the
    whole pipeline in one call: it returns ``HANDED_ON`` once the stage has handed the batch
    on (or resolved its ``done`` future). Only a stage that must push back (a rate limit that
    delays, a full producer queue) returns an awaitable to wait on instead, and the caller
    awaits it before taking more. ``consume`` raises a ``sluice.core.errors.SluiceError`` to
    refuse the batch outright, and never waits for Kafka delivery. An ``async def consume``
    fits too: its coroutine is the awaitable.

    ``start`` is called sink-first and ``shutdown`` receiver-first. ``shutdown`` is
    idempotent, safe without ``start``, and drains what the stage holds downstream.
    """

    async def start(self) -> None:
        """Acquire resources; the stage accepts batches once this returns."""

    async def shutdown(self) -> None:
        """Drain what the stage holds downstream and release resources."""

    def consume(self, batch: Batch) -> Awaitable[None]:
        """Take ownership of ``batch`` and hand it on; ``HANDED_ON``, or what to await."""
