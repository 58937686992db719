"""nginx and Apache access logs (combined format) to ``http.request`` readings.

Accepted lines, with an optional virtual host first (Apache's ``vhost_combined``) and an
optional request time last (nginx's ``$request_time`` in seconds, or Apache's ``%D`` in
microseconds with ``time_unit="us"``)::

    203.0.113.9 - al [10/Oct/2024:13:55:36 +0200] "GET /items/42 HTTP/1.1" 200 2326 "-" "curl" 0.042
    shop.example:443 203.0.113.9 - - [10/Oct/2024:13:55:36 +0200] "POST /cart HTTP/2" 201 17 "-" "-"

Each line is one reading: metric ``http.request``, value the request time in seconds (unit
``s``), or the response bytes (unit ``By``) when the line has no request time. Its device is
the host: the virtual host when the line names one, else the configured host. Tags: ``host``,
``method``, ``status``, ``status_class`` (``2xx``) and ``path_template`` (see ``paths``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final, Literal

from sluice.v1.ingest_pb2 import Reading
from sluice_client.replay.malformed import MalformedLine, line_time
from sluice_client.replay.paths import template_of

TimeUnit = Literal["s", "ms", "us"]
METRIC: Final = "http.request"
UNKNOWN_METHOD: Final = "UNKNOWN"
_SCALE: Final[dict[str, float]] = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_QUOTED = r'(?:[^"\\]|\\.)*'
_LINE = re.compile(
    rf'(?:(?P<vhost>\S+) )?\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>{_QUOTED})" '
    rf'(?P<status>\d{{3}}) (?P<bytes>\d+|-) "{_QUOTED}" "{_QUOTED}"(?: (?P<rt>\S+))?\s*'
)
_TIME = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_METHOD = re.compile(r"[A-Z]{3,10}")


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One request of an access log."""

    time_unix_nano: int
    host: str
    method: str
    status: int
    path_template: str
    bytes_sent: int
    request_time_s: float | None

    def tags(self) -> dict[str, str]:
        """The reading tags of this request."""
        return {
            "host": self.host,
            "method": self.method,
            "status": str(self.status),
            "status_class": f"{self.status // 100}xx",
            "path_template": self.path_template,
        }


def parse_log_time(text: str) -> int:
    """Nanoseconds since the epoch of ``10/Oct/2024:13:55:36 +0200``."""
    match = _TIME.fullmatch(text)
    if match is None or match.group(2) not in _MONTHS:
        raise MalformedLine("time", f"time {text!r} is not dd/Mon/yyyy:HH:MM:SS +zzzz")
    day, month, year, hour, minute, second = match.group(1, 2, 3, 4, 5, 6)
    offset = timedelta(hours=int(match.group(8)), minutes=int(match.group(9)))
    try:
        moment = datetime(
            int(year),
            _MONTHS[month],
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if match.group(7) == "-" else offset),
        )
    except ValueError as exc:
        raise MalformedLine("time", f"time {text!r}: {exc}") from None
    return line_time(moment, text)


class AccessLogParser:
    """Parses access log lines; ``host`` names the server when a line has no virtual host."""

    def __init__(self, host: str, time_unit: TimeUnit = "s") -> None:
        self._host = host
        self._scale = _SCALE[time_unit]

    def parse(self, line: str) -> AccessRecord:
        """The request of one line; raises ``MalformedLine``."""
        match = _LINE.fullmatch(line)
        if match is None:
            raise MalformedLine("format", f"not a combined-format access log line: {line!r}")
        request = match.group("request").split(" ")
        method = request[0] if _METHOD.fullmatch(request[0]) else UNKNOWN_METHOD
        target = request[1] if len(request) >= 2 and method != UNKNOWN_METHOD else ""
        sent = match.group("bytes")
        return AccessRecord(
            time_unix_nano=parse_log_time(match.group("time")),
            host=_host_of(match.group("vhost")) or self._host,
            method=method,
            status=int(match.group("status")),
            path_template=template_of(target) if target else "-",
            bytes_sent=0 if sent == "-" else int(sent),
            request_time_s=self._request_time(match.group("rt")),
        )

    def readings(self, line: str) -> list[Reading]:
        """The one ``http.request`` reading of a line; raises ``MalformedLine``."""
        return [reading_of(self.parse(line))]

    def _request_time(self, text: str | None) -> float | None:
        if text is None or text == "-":
            return None
        try:
            value = float(text)
        except ValueError:
            raise MalformedLine("request_time", f"request time {text!r} is not a number") from None
        if not value >= 0:
            raise MalformedLine("request_time", f"request time {text!r} is negative")
        return value * self._scale


def reading_of(record: AccessRecord) -> Reading:
    """The ``http.request`` reading of one request."""
    timed = record.request_time_s is not None
    return Reading(
        device_id=record.host,
        time_unix_nano=record.time_unix_nano,
        metric=METRIC,
        value=record.request_time_s if record.request_time_s is not None else record.bytes_sent,
        unit="s" if timed else "By",
        tags=record.tags(),
    )


def _host_of(vhost: str | None) -> str:
    if not vhost:
        return ""
    host, _, port = vhost.rpartition(":")
    return host if host and port.isdigit() else vhost
