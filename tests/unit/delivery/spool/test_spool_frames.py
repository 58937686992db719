"""Spool frames: what goes in comes out, and damage is found and stepped over."""

from __future__ import annotations

import pytest
from spool_helpers import record

from sluice.core.batch import Record
from sluice.delivery.spool.frames import (
    HEAD_BYTES,
    Damage,
    Frame,
    FrameError,
    Pread,
    decode,
    encode,
    walk,
)


def pread_of(data: bytes) -> Pread:
    return lambda size, offset: data[offset : offset + size]


def walked(data: bytes) -> list[Frame | Damage]:
    return list(walk(pread_of(data), 0, len(data)))


@pytest.mark.parametrize(
    "original",
    [
        record(1),
        Record("t", b"", b"", [], 0),
        Record("sluice.readings.v1", bytes(range(256)), b"\x00" * 70_000, [("a", b"")], 9),
        Record("tópico", b"k", b"v", [("ce_id", b"x"), ("ünï", b"\xff\xfe")], 1),
    ],
    ids=["plain", "empty", "binary and large", "unicode names"],
)
def test_a_record_survives_encoding(original: Record) -> None:
    (frame,) = walked(encode(original))

    assert isinstance(frame, Frame)
    assert frame.record == original


def test_frames_are_read_back_in_order() -> None:
    data = b"".join(encode(record(n)) for n in range(5))

    assert walked(data) == [
        Frame(offset, offset + len(encode(record(n))), record(n))
        for n, offset in enumerate(range(0, len(data), len(encode(record(0)))))
    ]


def test_a_flipped_byte_costs_its_record_only() -> None:
    frames = [encode(record(n)) for n in range(3)]
    middle = bytearray(frames[1])
    middle[HEAD_BYTES + 5] ^= 0xFF
    data = frames[0] + bytes(middle) + frames[2]

    items = walked(data)

    assert [type(item) for item in items] == [Frame, Damage, Frame]
    assert items[1] == Damage(len(frames[0]), len(frames[0]) + len(frames[1]), tail=False)
    assert items[2] == Frame(len(data) - len(frames[2]), len(data), record(2))


@pytest.mark.parametrize("cut", [1, HEAD_BYTES - 1, HEAD_BYTES + 3])
def test_a_torn_last_frame_is_a_damaged_tail(cut: int) -> None:
    whole = encode(record(0))
    torn = encode(record(1))[:cut]

    items = walked(whole + torn)

    assert items == [Frame(0, len(whole), record(0)), Damage(len(whole), len(whole) + cut, True)]


def test_garbage_alone_is_one_damaged_tail() -> None:
    assert walked(b"not a frame at all") == [Damage(0, 18, tail=True)]


def test_a_payload_that_is_not_a_record_is_refused() -> None:
    with pytest.raises(FrameError):
        decode(b"\x05\x00ab")
