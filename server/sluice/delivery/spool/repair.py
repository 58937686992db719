"""Segment files made whole again: damage cut out at start-up, and records put in order.

A segment file is ``FILE_MAGIC`` and then frames (``sluice.delivery.spool.frames``).
``repair`` checks every frame: a damaged tail (a torn last write, or bytes gone bad) is
truncated; damage in the middle is cut out by rewriting the file with its intact frames,
atomically. Both are counted in a ``Recovery``. ``reorder`` rewrites a file with its records
in a given order.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sluice.delivery.spool.frames import Damage, Frame, walk

log = logging.getLogger(__name__)

FILE_MAGIC: Final = b"SLSPOOL1"
HEADER_BYTES: Final = len(FILE_MAGIC)
TEMP_SUFFIX: Final = ".tmp"


@dataclass(slots=True)
class Recovery:
    """What a start-up found: intact records, and the damaged stretches it removed."""

    segments: int = 0
    records: int = 0
    damaged: int = 0
    dropped_bytes: int = 0


def repair(path: Path, recovery: Recovery) -> int | None:
    """Check every frame of a segment file and cut out damage; returns its size, or None
    when the file held no intact record and was removed."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        header = os.pread(fd, HEADER_BYTES, 0)
        start = HEADER_BYTES if header == FILE_MAGIC else 0
        items = list(walk(functools.partial(os.pread, fd), start, size))
    finally:
        os.close(fd)
    frames = [item for item in items if isinstance(item, Frame)]
    damage = [item for item in items if isinstance(item, Damage)]
    if start == 0 and size:
        damage.insert(0, Damage(0, min(HEADER_BYTES, size), tail=not frames))
    recovery.records += len(frames)
    recovery.damaged += len(damage)
    recovery.dropped_bytes += sum(d.end - d.start for d in damage)
    if damage:
        log.error(
            "damaged spool segment repaired",
            extra={"segment": path.name, "damaged": len(damage), "intact_records": len(frames)},
        )
    if not frames:
        path.unlink()
        return None
    if not damage:
        return size
    if start == HEADER_BYTES and len(damage) == 1 and damage[0].tail:
        os.truncate(path, damage[0].start)
        return damage[0].start
    return _rewrite(path, frames)


def reorder(path: Path, keys: Sequence[float]) -> bool:
    """Rewrite the segment file at ``path`` with its records sorted by ``keys`` (one per
    record, in file order; equal keys keep their order). Returns False, leaving the file as
    it is, when its records are not exactly one per key."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        items = list(walk(functools.partial(os.pread, fd), HEADER_BYTES, size))
    finally:
        os.close(fd)
    frames = [item for item in items if isinstance(item, Frame)]
    if len(frames) != len(items) or len(frames) != len(keys):
        return False
    order = sorted(range(len(frames)), key=keys.__getitem__)
    if order != list(range(len(frames))):
        _rewrite(path, [frames[i] for i in order])
        fsync_directory(path.parent)
    return True


def fsync_directory(directory: Path) -> None:
    """fsync ``directory``, so that files created, renamed or deleted in it stay so."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite(path: Path, frames: list[Frame]) -> int:
    """Replace ``path`` by a file of ``frames`` (of it), in that order, atomically."""
    temp = path.with_name(path.name + TEMP_SUFFIX)
    source = os.open(path, os.O_RDONLY)
    target = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = os.write(target, FILE_MAGIC)
        for frame in frames:
            size += os.write(target, os.pread(source, frame.end - frame.start, frame.start))
        os.fsync(target)
    finally:
        os.close(source)
        os.close(target)
    os.replace(temp, path)
    return size
