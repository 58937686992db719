"""Compressed request bodies: what ``decode_body`` inflates, and what it refuses."""

from __future__ import annotations

import gzip
import zlib

import pytest

from sluice.frontdoors.httpingest.body import BodyError, BodyTooLarge
from sluice.frontdoors.httpingest.encoding import UnsupportedEncoding, decode_body

BODY = (
    b'{"readings": [' + b",".join([b'{"device_id": "d", "metric": "m", "value": 1}'] * 50) + b"]}"
)
LIMIT = 4096


@pytest.mark.parametrize("coding", [None, "", "identity", " Identity "])
def test_an_uncompressed_body_is_returned_as_sent(coding: str | None) -> None:
    assert decode_body(BODY, coding, LIMIT) is BODY


@pytest.mark.parametrize(
    ("coding", "compress"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("GZIP", gzip.compress),
     ("deflate", zlib.compress)],
)  # fmt: skip
def test_gzip_and_deflate_are_inflated(coding: str, compress: object) -> None:
    assert callable(compress)
    packed = compress(BODY)
    assert len(packed) < len(BODY) / 5
    assert decode_body(packed, coding, LIMIT) == BODY


def test_gzip_members_one_after_another_are_one_body() -> None:
    half = len(BODY) // 2
    packed = gzip.compress(BODY[:half]) + gzip.compress(BODY[half:])
    assert decode_body(packed, "gzip", LIMIT) == BODY


def test_a_body_exactly_at_the_limit_once_inflated_passes() -> None:
    assert decode_body(gzip.compress(BODY), "gzip", len(BODY)) == BODY


def test_a_small_body_that_inflates_past_the_limit_is_too_large() -> None:
    bomb = gzip.compress(b" " * 50_000_000)  # ~50 kB, 50 MB inflated
    assert len(bomb) < 100_000
    with pytest.raises(BodyTooLarge):
        decode_body(bomb, "gzip", LIMIT)
    with pytest.raises(BodyTooLarge):
        decode_body(gzip.compress(BODY), "gzip", len(BODY) - 1)
    with pytest.raises(BodyTooLarge):  # the cap counts every member
        decode_body(gzip.compress(BODY) + gzip.compress(BODY), "gzip", len(BODY) + 10)


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip", "gzip;q=1"])
def test_other_codings_are_unsupported_and_named(coding: str) -> None:
    with pytest.raises(UnsupportedEncoding, match="gzip, deflate") as refused:
        decode_body(BODY, coding, LIMIT)
    assert repr(coding.lower()) in str(refused.value)


@pytest.mark.parametrize(
    ("packed", "coding", "says"),
    [
        (BODY, "gzip", "not valid gzip"),
        (b"not deflate at all", "deflate", "not valid deflate"),
        (gzip.compress(BODY)[:-12], "gzip", "ends inside its gzip stream"),
        (zlib.compress(BODY) + b"tail", "deflate", "data after its deflate stream"),
        (gzip.compress(BODY) + b"tail", "gzip", "not valid gzip"),
    ],
)
def test_a_body_that_is_not_what_its_coding_says_names_the_header(
    packed: bytes, coding: str, says: str
) -> None:
    with pytest.raises(BodyError, match=says) as bad:
        decode_body(packed, coding, LIMIT)
    assert bad.value.field == "Content-Encoding"
