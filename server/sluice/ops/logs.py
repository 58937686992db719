"""Process logs: JSON lines on stderr with trace ids, and secrets masked.

Each JSON line carries ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, the
``trace_id`` and ``span_id`` of the current OpenTelemetry span when there is one, and every
field passed with ``extra={...}`` (tenant, session_id, seq, ...). ``format: text`` writes
the same events for humans.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from sluice.core.config.ops import LoggingConfig

HANDLER_NAME = "sluice"
MASK = "***"

_SECRET_WORDS = r"token(?!s\b)|passw(?:or)?d|secret|authorization|api[_-]?key|credential"
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
_SECRET_IN_TEXT = re.compile(
    rf"""((?:{_SECRET_WORDS})[\w.-]*["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&'"}}\]]+)""",
    re.IGNORECASE,
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[\w.~+/=-]+", re.IGNORECASE)
# uvicorn adds ``color_message``, its message with ANSI colours: noise in a field.
_UNLOGGED_EXTRAS = ("color_message",)
_STANDARD_ATTRS = frozenset(RESERVED_ATTRS) | {"message", "asctime", "taskName", *_UNLOGGED_EXTRAS}


def configure_logging(config: LoggingConfig, stream: TextIO | None = None) -> None:
    """Send the root logger's records to ``stream`` (stderr) as ``config`` says.

    Calling it again replaces the handler it installed rather than adding another.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonLineFormatter() if config.format == "json" else TextLineFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(config.level)


def redact(value: Any) -> Any:
    """``value`` with secrets masked: values under secret-named keys, inside dicts and lists."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: MASK if _is_secret_key(key) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    return value


def redact_text(text: str) -> str:
    """``text`` with ``password=...``-style values and bearer credentials masked."""
    text = _AUTH_SCHEME.sub(rf"\1 {MASK}", text)
    return _SECRET_IN_TEXT.sub(rf"\1{MASK}", text)


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message, its ``extra`` fields and its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Mapping):
            record.msg = redact(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string must not make logging raise
                message = f"{record.msg} {record.args}"
            record.msg = redact_text(message)
            record.args = None
        if record.exc_info:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key in _extra_keys(record):
            value = record.__dict__[key]
            record.__dict__[key] = MASK if _is_secret_key(key) else redact(value)
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record: time, level, logger, message, trace ids, extras."""

    def __init__(self) -> None:
        super().__init__(
            "{message}", style="{", reserved_attrs=[*RESERVED_ATTRS, *_UNLOGGED_EXTRAS]
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = rfc3339(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        super().add_fields(log_data, record, message_dict)
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            log_data["trace_id"] = format(span_context.trace_id, "032x")
            log_data["span_id"] = format(span_context.span_id, "016x")


class TextLineFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{rfc3339(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = " ".join(f"{key}={record.__dict__[key]}" for key in _extra_keys(record))
        if extras:
            line = f"{line} {extras}"
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        elif record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def rfc3339(timestamp: float) -> str:
    """``timestamp`` (seconds since the epoch) as RFC 3339 UTC with milliseconds."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [key for key in record.__dict__ if key not in _STANDARD_ATTRS]
