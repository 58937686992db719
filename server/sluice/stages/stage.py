"""The one interface every pipeline stage implements."""

from typing import Protocol

from sluice.core.batch import Batch


class Stage(Protocol):
    """A pipeline stage: it takes ownership of a batch and hands it to the next stage.

    ``consume`` returns once the stage has handed the batch on (or resolved its ``done``
    future). It raises a ``sluice.core.errors.SluiceError`` to refuse the batch outright. It may
    await to push back, and never awaits Kafka delivery inline.

    ``start`` is called sink-first and ``shutdown`` receiver-first. ``shutdown`` is
    idempotent, safe without ``start``, and drains what the stage holds downstream.
    """

    async def start(self) -> None:
        """Acquire resources; the stage accepts batches once this returns."""

    async def shutdown(self) -> None:
        """Drain what the stage holds downstream and release resources."""

    async def consume(self, batch: Batch) -> None:
        """Take ownership of ``batch`` and hand it on."""
