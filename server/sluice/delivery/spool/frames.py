"""The spool's on-disk record format: one checksummed, length-prefixed frame per Kafka record.

    frame   = MAGIC (4 bytes) | length (u32) | crc32 (u32) | payload (length bytes)
    payload = topic (u16 length + UTF-8) | key (u32 length + bytes)
              | value (u32 length + bytes) | readings (u32) | header count (u16)
              | per header: name (u16 length + UTF-8), value (u32 length + bytes)

Integers are little-endian. The CRC-32 covers the length field and the payload, so a torn or
flipped length is caught as surely as a flipped byte of data. ``MAGIC`` starts every frame,
so a reader that meets a corrupt frame can find the next good one.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from sluice.core.batch import Record

MAGIC: Final = b"SLR\x01"
_HEAD: Final = struct.Struct("<4sII")
HEAD_BYTES: Final = _HEAD.size
_LENGTH: Final = struct.Struct("<I")
MAX_PAYLOAD_BYTES: Final = 256 * 1024 * 1024
"""Longer lengths are taken as corruption; no record comes near this."""
RESYNC_CHUNK_BYTES: Final = 1024 * 1024


class FrameError(ValueError):
    """Bytes that are not a whole, intact frame."""


def encode(record: Record) -> bytes:
    """``record`` as one frame."""
    topic = record.topic.encode()
    parts = [
        struct.pack("<H", len(topic)),
        topic,
        _LENGTH.pack(len(record.key)),
        record.key,
        _LENGTH.pack(len(record.value)),
        record.value,
        struct.pack("<IH", record.readings, len(record.headers)),
    ]
    for name, value in record.headers:
        encoded = name.encode()
        parts += [struct.pack("<H", len(encoded)), encoded, _LENGTH.pack(len(value)), value]
    payload = b"".join(parts)
    length = _LENGTH.pack(len(payload))
    return MAGIC + length + _LENGTH.pack(zlib.crc32(payload, zlib.crc32(length))) + payload


def decode(payload: bytes | memoryview) -> Record:
    """The record a frame's payload holds; ``FrameError`` if the payload is malformed."""
    reader = _Reader(memoryview(payload))
    try:
        topic = reader.take(reader.unpack("<H")).decode()
        key = reader.take(reader.unpack("<I"))
        value = reader.take(reader.unpack("<I"))
        readings = reader.unpack("<I")
        headers = []
        for _ in range(reader.unpack("<H")):
            name = reader.take(reader.unpack("<H")).decode()
            headers.append((name, reader.take(reader.unpack("<I"))))
    except (struct.error, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed record: {exc}") from None
    if not reader.at_end():
        raise FrameError("trailing bytes after the record")
    return Record(topic, key, value, headers, readings)


Pread = Callable[[int, int], bytes]
"""Reads ``size`` bytes at ``offset`` (``os.pread`` with the file bound): fewer at the end."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One intact frame: where it starts and ends, and its record."""

    start: int
    end: int
    record: Record


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes ``[start, end)`` that hold no intact frame. ``tail`` when nothing intact follows
    before the limit, so the whole rest is damaged (a torn or corrupt tail)."""

    start: int
    end: int
    tail: bool


def walk(pread: Pread, start: int, limit: int) -> Iterator[Frame | Damage]:
    """Every intact frame in ``[start, limit)``, in order, and every damaged stretch.

    After a bad frame the walk looks for the next ``MAGIC`` that begins an intact frame; if
    there is none before ``limit``, the rest is one damaged tail.
    """
    offset = start
    while offset < limit:
        frame = read_frame(pread, offset, limit)
        if frame is not None:
            yield frame
            offset = frame.end
            continue
        resume = _next_intact(pread, offset + 1, limit)
        if resume is None:
            yield Damage(offset, limit, tail=True)
            return
        yield Damage(offset, resume, tail=False)
        offset = resume


def read_frame(pread: Pread, offset: int, limit: int) -> Frame | None:
    """The intact frame at ``offset`` ending by ``limit``, or None."""
    head = pread(HEAD_BYTES, offset)
    if len(head) < HEAD_BYTES:
        return None
    magic, length, crc = _HEAD.unpack(head)
    end = offset + HEAD_BYTES + length
    if magic != MAGIC or length > MAX_PAYLOAD_BYTES or end > limit:
        return None
    payload = pread(length, offset + HEAD_BYTES)
    if len(payload) < length or zlib.crc32(payload, zlib.crc32(head[4:8])) != crc:
        return None
    try:
        return Frame(offset, end, decode(payload))
    except FrameError:
        return None


def _next_intact(pread: Pread, offset: int, limit: int) -> int | None:
    overlap = len(MAGIC) - 1
    while offset < limit:
        chunk = pread(min(RESYNC_CHUNK_BYTES, limit - offset), offset)
        found = chunk.find(MAGIC)
        while found >= 0:
            if read_frame(pread, offset + found, limit) is not None:
                return offset + found
            found = chunk.find(MAGIC, found + 1)
        if len(chunk) <= overlap:
            return None
        offset += len(chunk) - overlap  # a MAGIC split across chunks is found next time
    return None


class _Reader:
    __slots__ = ("_offset", "_view")

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._offset = 0

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self._view, self._offset)
        self._offset += struct.calcsize(fmt)
        return int(value)

    def take(self, count: int) -> bytes:
        end = self._offset + count
        if end > len(self._view):
            raise struct.error("a field runs past the end of the record")
        data = bytes(self._view[self._offset : end])
        self._offset = end
        return data

    def at_end(self) -> bool:
        return self._offset == len(self._view)
