"""Compressed request bodies: ``Content-Encoding: gzip`` or ``deflate``, inflated under a cap.

A gateway on a metered link sends its JSON compressed: readings compress five to ten times.
``http.max_body_bytes`` bounds the body both as sent and once inflated, so a small
compressed body cannot expand into a large one (a "zip bomb"): inflating stops one byte past
the cap. Any other encoding is refused with 415 and the encodings that are accepted
(RFC 7694).
"""

from __future__ import annotations

import zlib
from typing import Final

from sluice.frontdoors.httpingest.body import BodyError, BodyTooLarge

GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
DEFLATE_WBITS: Final = zlib.MAX_WBITS
WBITS: Final = {"gzip": GZIP_WBITS, "x-gzip": GZIP_WBITS, "deflate": DEFLATE_WBITS}
ACCEPTED: Final = "gzip, deflate"
"""The ``Accept-Encoding`` of a 415 answer: the codings ``decode_body`` takes."""


class UnsupportedEncoding(Exception):
    """The body is in a content coding this server does not read."""

    def __init__(self, coding: str) -> None:
        super().__init__(
            f"Content-Encoding {coding!r} is not supported: send the body as is, "
            f"or in one of {ACCEPTED}"
        )


def decode_body(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """``raw`` as it was before its ``Content-Encoding``, at most ``limit`` bytes.

    Raises ``UnsupportedEncoding`` for a coding other than gzip, deflate or identity (or for
    more than one), ``BodyTooLarge`` past ``limit``, and ``BodyError`` for a body that is not
    the coding it claims.
    """
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return raw
    wbits = WBITS.get(coding)
    if wbits is None:
        raise UnsupportedEncoding(coding)
    inflated = bytearray()
    data = raw
    while True:  # a gzip body may be several members, one after another (RFC 1952)
        inflater = zlib.decompressobj(wbits)
        try:
            inflated += inflater.decompress(data, limit + 1 - len(inflated))
        except zlib.error as bad:
            raise BodyError("Content-Encoding", f"the body is not valid {coding}: {bad}") from None
        if len(inflated) > limit:
            raise BodyTooLarge
        if not inflater.eof:
            raise BodyError("Content-Encoding", f"the body ends inside its {coding} stream")
        data = inflater.unused_data
        if not data:
            return bytes(inflated)
        if wbits != GZIP_WBITS:
            raise BodyError("Content-Encoding", f"the body has data after its {coding} stream")
