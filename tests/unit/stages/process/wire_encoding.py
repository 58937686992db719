"""Protobuf wire-format pieces for building batches byte by byte, oddities included."""

from __future__ import annotations

import struct


def varint(value: int) -> bytes:
    """``value`` as a varint (negative values as their 64-bit two's complement)."""
    value &= 2**64 - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def time_field(value: int) -> bytes:
    """A Reading's ``time_unix_nano``."""
    return b"\x10" + varint(value)


def value_field(value: float) -> bytes:
    """A Reading's ``value``."""
    return b"\x21" + struct.pack("<d", value)


def tag_entry(key: bytes, value: bytes | None) -> bytes:
    """A Reading's ``tags`` map entry; without its value when ``value`` is None."""
    entry = field(1, key)
    if value is not None:
        entry += field(2, value)
    return field(5, entry)
