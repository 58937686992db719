"""Path templates: request paths with their ids and hashes collapsed, for low-cardinality tags.

``/api/users/12345/orders/9f8e7d6c5b4a39281706f5e4d3c2b1a0?page=2`` becomes
``/api/users/{id}/orders/{hash}``. Each dot-separated part of a segment (so ``12345.json``
becomes ``{id}.json`` and ``app.3f9a1c2b7d4e5f60.js`` becomes ``app.{hash}.js``), in order:

- digits only: ``{id}``;
- a UUID: ``{uuid}``;
- hex digits only, at least 8 of them and one a digit: ``{hash}`` (``facade`` stays);
- 20 or more URL-safe characters mixing letters and digits (base64 ids, tokens): ``{token}``.

The query string and fragment are dropped, and the template is cut to ``MAX_TEMPLATE_LENGTH``.
"""

from __future__ import annotations

import re
from typing import Final

MAX_TEMPLATE_LENGTH: Final = 200
_DIGITS = re.compile(r"\d+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")
_HAS_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[A-Za-z]")


def template_of(target: str) -> str:
    """The path template of a request target (path, query and fragment)."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path:
        return "/"
    segments = [".".join(map(_collapse, segment.split("."))) for segment in path.split("/")]
    return "/".join(segments)[:MAX_TEMPLATE_LENGTH]


def _collapse(segment: str) -> str:
    if not segment:
        return segment
    if _DIGITS.fullmatch(segment):
        return "{id}"
    if _UUID.fullmatch(segment):
        return "{uuid}"
    if _HEX.fullmatch(segment) and _HAS_DIGIT.search(segment):
        return "{hash}"
    if _TOKEN.fullmatch(segment) and _HAS_DIGIT.search(segment) and _HAS_LETTER.search(segment):
        return "{token}"
    return segment
