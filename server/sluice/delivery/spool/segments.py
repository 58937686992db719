"""The spool's log: a directory of append-only segment files, read in sequence order.

- Segment files are named by a sequence number (``000000000042.seg``), begin with
  ``FILE_MAGIC`` and then hold frames (``sluice.delivery.spool.frames``). Appends go to the newest
  (active) segment, which rolls over at ``segment_bytes``.
- ``reserve()`` sets aside a segment that sorts before every segment begun after it: records
  that are older than what is being appended now (taken back from librdkafka's queue) go
  there, so a replay still meets them first. A segment is read past only once it is sealed.
- Space is freed a whole segment at a time, once every record in it is delivered.
- ``open()`` recovers what a crash left: a damaged tail is truncated, a damaged stretch in the
  middle is cut out by rewriting the segment, and both are counted.

The log does blocking file I/O on the caller's thread; appends and reads are page-cache work.
Syncing is the caller's: ``take_unsynced()`` hands out duplicated descriptors to fsync.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sluice.core.batch import Record
from sluice.delivery.spool.frames import Damage, Frame, walk
from sluice.delivery.spool.repair import FILE_MAGIC, HEADER_BYTES, TEMP_SUFFIX, Recovery, repair

log = logging.getLogger(__name__)

SUFFIX: Final = ".seg"


def segment_name(segment: int) -> str:
    """The file name of segment number ``segment``."""
    return f"{segment:012d}{SUFFIX}"


def segment_ids(directory: Path) -> list[int]:
    """The sequence numbers of the segment files in ``directory``, ascending."""
    ids = []
    for path in directory.glob(f"*{SUFFIX}"):
        with contextlib.suppress(ValueError):
            ids.append(int(path.name.removesuffix(SUFFIX)))
    return sorted(ids)


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the log: a segment and a byte offset in it."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One record read from the log, with where it starts and where the next one starts."""

    record: Record
    start: Position
    end: Position


class _Segment:
    __slots__ = ("fd", "id", "path", "sealed", "size", "writable")

    def __init__(self, segment: int, path: Path, size: int, sealed: bool) -> None:
        self.id = segment
        self.path = path
        self.size = size
        self.sealed = sealed
        self.fd: int | None = None
        self.writable = False


class SegmentLog:
    """The segment files of one directory (which the caller has locked)."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._segments: dict[int, _Segment] = {}
        self._order: list[int] = []
        self._active: _Segment | None = None
        self._next_id = 1
        self._bytes = 0
        self._unsynced: set[_Segment] = set()
        self._retired: list[int] = []
        self._directory_changed = False

    @property
    def held_bytes(self) -> int:
        """Bytes held in segment files."""
        return self._bytes

    @property
    def segment_count(self) -> int:
        """Segment files held (a reserved segment counts once it is written to)."""
        return sum(1 for segment in self._segments.values() if segment.size)

    def open(self) -> Recovery:
        """Load the segments on disk, repairing damage; every loaded segment is sealed."""
        recovery = Recovery()
        for leftover in self.directory.glob(f"*{TEMP_SUFFIX}"):
            leftover.unlink()
        for segment in segment_ids(self.directory):
            path = self.directory / segment_name(segment)
            size = repair(path, recovery)
            self._next_id = max(self._next_id, segment + 1)
            if size is None:
                continue
            self._add(_Segment(segment, path, size, sealed=True))
            self._bytes += size
            recovery.segments += 1
        return recovery

    def first(self) -> Position:
        """Where reading starts: the first record of the oldest segment."""
        segment = self._order[0] if self._order else self._next_id
        return Position(segment, HEADER_BYTES)

    def append(self, data: bytes, segment: int | None = None) -> None:
        """Append whole frames to the active segment, or to the reserved ``segment``.

        On a write error the segment is cut back to its size before, so it never holds a
        partial frame, and the error is raised.
        """
        target = self._writable(len(data)) if segment is None else self._segments[segment]
        if target.fd is None or not target.writable:
            self._open_for_append(target)
        assert target.fd is not None
        written = 0
        try:
            while written < len(data):
                written += os.write(target.fd, data[written:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(target.fd, target.size)
            raise
        target.size += written
        self._bytes += written
        self._unsynced.add(target)

    def reserve(self) -> int:
        """A new, unsealed segment that sorts before every segment begun after this call."""
        self._seal_active()
        reserved = self._new_segment()
        return reserved.id

    def path_of(self, segment: int) -> Path | None:
        """The file of ``segment``, if it has one yet."""
        target = self._segments.get(segment)
        return None if target is None or target.size == 0 else target.path

    def seal(self, segment: int) -> None:
        """Mark a reserved ``segment`` complete, so reading goes past it."""
        target = self._segments.get(segment)
        if target is not None:
            target.sealed = True
            self._release_fd(target)

    def read(self, position: Position, limit: int) -> tuple[list[Entry], Position, int]:
        """Up to ``limit`` records from ``position`` on, the position after what was read,
        and how many damaged stretches were skipped on the way."""
        entries: list[Entry] = []
        damaged = 0
        while len(entries) < limit:
            segment = self._at_or_after(position.segment)
            if segment is None:
                break
            if segment.id != position.segment:
                position = Position(segment.id, HEADER_BYTES)
            if position.offset >= segment.size:
                if not segment.sealed:
                    break
                position = Position(segment.id + 1, HEADER_BYTES)
                continue
            pread = functools.partial(os.pread, self._readable(segment))
            for item in walk(pread, position.offset, segment.size):
                end = Position(segment.id, item.end)
                if isinstance(item, Frame):
                    entries.append(Entry(item.record, position, end))
                else:
                    damaged += 1
                    log.error("damaged spool record skipped", extra=_where(segment, item))
                position = end
                if len(entries) >= limit:
                    break
        return entries, position, damaged

    def at_end(self, position: Position) -> bool:
        """True when no record is stored at or after ``position``."""
        for segment_id in self._order:
            if segment_id < position.segment:
                continue
            start = position.offset if segment_id == position.segment else HEADER_BYTES
            if self._segments[segment_id].size > start:
                return False
        return True

    def release_before(self, position: Position) -> int:
        """Delete the sealed segments wholly before ``position``; returns the bytes freed."""
        freed = 0
        while self._order:
            segment = self._segments[self._order[0]]
            behind = segment.id < position.segment or (
                segment.id == position.segment and position.offset >= segment.size
            )
            if not (segment.sealed and behind):
                break
            freed += self._delete(segment)
        return freed

    def clear(self) -> int:
        """Delete every segment (all records are delivered); returns the bytes freed."""
        freed = 0
        for segment in [self._segments[i] for i in self._order]:
            freed += self._delete(segment)
        self._active = None
        return freed

    @property
    def needs_sync(self) -> bool:
        """True when something was written, sealed or deleted since the last sync."""
        return bool(self._unsynced or self._retired or self._directory_changed)

    def close_retired(self) -> None:
        """Close the descriptors of sealed segments without syncing them (``fsync: never``)."""
        for fd in self._retired:
            os.close(fd)
        self._retired = []

    def take_unsynced(self) -> tuple[list[int], bool]:
        """Duplicated descriptors of the segments written since the last call (the caller
        fsyncs and closes them), and whether the directory's entries changed since then."""
        fds = [os.dup(segment.fd) for segment in self._unsynced if segment.fd is not None]
        fds += self._retired  # their ownership passes to the caller
        self._retired = []
        self._unsynced.clear()
        changed, self._directory_changed = self._directory_changed, False
        return fds, changed

    def close(self) -> None:
        """Close every descriptor (after the caller's last sync)."""
        self.close_retired()
        for segment in self._segments.values():
            if segment.fd is not None:
                os.close(segment.fd)
                segment.fd = None
        self._unsynced.clear()

    def _writable(self, size: int) -> _Segment:
        active = self._active
        full = active is not None and active.size + size > self._segment_bytes
        if full and active is not None and active.size > HEADER_BYTES:
            self._seal_active()
            active = None
        if active is None:
            active = self._active = self._new_segment()
        return active

    def _new_segment(self) -> _Segment:
        segment = _Segment(self._next_id, self.directory / segment_name(self._next_id), 0, False)
        self._next_id += 1
        self._add(segment)
        return segment

    def _seal_active(self) -> None:
        if self._active is not None:
            self.seal(self._active.id)
            self._active = None

    def _open_for_append(self, segment: _Segment) -> None:
        if segment.fd is not None:
            self._release_fd(segment)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
        segment.fd = os.open(segment.path, flags, 0o600)
        segment.writable = True
        if segment.size == 0:
            os.write(segment.fd, FILE_MAGIC)
            segment.size = HEADER_BYTES
            self._bytes += HEADER_BYTES
            self._directory_changed = True

    def _readable(self, segment: _Segment) -> int:
        if segment.fd is None:
            segment.fd = os.open(segment.path, os.O_RDONLY)
        return segment.fd

    def _release_fd(self, segment: _Segment) -> None:
        """Close a segment's descriptor; one with writes not yet synced is handed to the
        next ``take_unsynced`` caller instead, to sync and close."""
        fd, segment.fd = segment.fd, None
        segment.writable = False
        if fd is None:
            return
        if segment in self._unsynced:
            self._unsynced.discard(segment)
            self._retired.append(fd)
            return
        os.close(fd)

    def _add(self, segment: _Segment) -> None:
        self._segments[segment.id] = segment
        self._order.append(segment.id)

    def _at_or_after(self, segment_id: int) -> _Segment | None:
        for candidate in self._order:
            if candidate >= segment_id:
                return self._segments[candidate]
        return None

    def _delete(self, segment: _Segment) -> int:
        self._unsynced.discard(segment)
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        del self._segments[segment.id]
        self._order.remove(segment.id)
        if self._active is segment:
            self._active = None
        self._bytes -= segment.size
        self._directory_changed = True
        return segment.size


def _where(segment: _Segment, damage: Frame | Damage) -> dict[str, object]:
    return {"segment": segment.path.name, "start": damage.start, "end": damage.end}
