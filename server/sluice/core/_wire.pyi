"""A ReadingBatch's wire bytes, walked, screened and re-assembled in C (``_wire.c``)."""

from collections.abc import Iterable
from typing import final

Affine = tuple[float, float, float, float]
PlanSpec = tuple[float, float, Affine | None, int, bytes, bool]
"""low, high, formula, the field numbers to drop (a bit mask), the fields to append, stamp."""

@final
class WireBatch:
    """A ReadingBatch's wire bytes, walked and validated once."""

    @property
    def seq(self) -> int: ...
    @property
    def source_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def count(self) -> int:
        """How many readings the batch has."""
    @property
    def raw(self) -> bytes: ...
    def reading(self, index: int, /) -> bytes:
        """The wire bytes of reading ``index`` as sent."""
    def device_counts(self, skip: Iterable[int], /) -> dict[str, int]:
        """How many readings each ``device_id`` has, leaving out the indices in ``skip``."""
    def assemble(self, edits: dict[int, bytes | None], /) -> bytes:
        """The accepted readings as a ReadingBatch: screened readings as screened, a suspect
        as its edit (its new encoding, or None when it failed), or as sent without one."""

def walk(raw: bytes, /) -> WireBatch | None:
    """``raw`` walked, or None when it is not a plainly encoded ReadingBatch: it uses an
    unknown field, a singular field twice, another wire type, or is malformed (parse it with
    upb to tell which)."""

@final
class Templates:
    """Reading templates and their plans; starts over when it holds ``limit``."""

    def __init__(self, limit: int) -> None: ...
    def __len__(self) -> int: ...
    def add(self, template: bytes, plan: PlanSpec | None, /) -> None:
        """Remember the plan of ``template`` (None: its readings are always suspects)."""
    def clear(self) -> None: ...
    def screen(
        self, batch: WireBatch, lowest: int, highest: int, now: int, /
    ) -> tuple[list[int], list[bytes], bool]:
        """The suspects (indices), the templates not known yet (one per reading that has
        one), and whether a screened reading was rewritten. A reading passes when its
        template is known with a plan and its value (converted) and time (``now`` when
        unset) are within bounds; its output is then written with the plan's rewrites."""
