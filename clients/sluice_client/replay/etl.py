"""ETL pipeline run logs (JSON Lines, one run per line) to readings.

A record looks like::

    {"No_Sequence": 1042, "Date_Sequence": "2024-03-15", "Heure_Sequence": 8,
     "Minute_Sequence": 30, "Entreprise": "Acme", "Zone": "EU-West", "Source": "sap",
     "Objet_Id": "OBJ-001", "Objet": "customers", "Transformation": "dedupe",
     "Etat": "FAILED", "Debut": "2024-03-15 08:30:00", "Fin": "2024-03-15 08:31:05",
     "Duree secondes": 65.2, "Description": "duplicate key", "cpu_time (sec)": 12.5,
     "memory_used (bytes)": 734003200}

Its device is ``{Entreprise}/{Source}/{Objet}``, each part reduced to the characters a
device id allows (accents dropped, anything else ``_``). It gives up to four readings at the
run's end (``Fin``; else ``Debut``; else ``Date_Sequence`` + ``Heure_Sequence`` +
``Minute_Sequence``), each tagged ``zone``, ``object_id``, ``transformation`` and ``state``,
and a failure also ``description``:

- ``etl.duration`` (s) from ``Duree secondes``; ``etl.cpu_time`` (s) from ``cpu_time (sec)``;
- ``etl.memory_used`` (By) from ``memory_used (bytes)``;
- ``etl.success``: 1 for SUCCESS, 0 for FAILED.

A number may be a JSON number or a string, with a decimal point or comma (``"65,2"``); a
missing or null one just omits its reading. Times without an offset are in the configured
time zone (UTC by default); ``Date_Sequence`` may be ``2024-03-15`` or ``15/03/2024``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, time, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

from sluice.v1.ingest_pb2 import Reading
from sluice_client.numbers import finite_number
from sluice_client.replay.malformed import MalformedLine, line_time

DEVICE_PARTS: Final = ("Entreprise", "Source", "Objet")
STATES: Final = {"SUCCESS": 1.0, "FAILED": 0.0}
MEASURES: Final = (
    ("Duree secondes", "etl.duration", "s"),
    ("cpu_time (sec)", "etl.cpu_time", "s"),
    ("memory_used (bytes)", "etl.memory_used", "By"),
)
SUCCESS_METRIC: Final = "etl.success"
MAX_TAG_CHARS: Final = 256
_NOT_IN_DEVICE_ID = re.compile(r"[^A-Za-z0-9._:@-]+")
_DATE_FORMATS: Final = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")


def device_part(text: str) -> str:
    """``text`` reduced to device-id characters: ``Société Générale`` -> ``Societe_Generale``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_IN_DEVICE_ID.sub("_", ascii_text.strip()).strip("_")


class EtlLogParser:
    """Parses ETL run records; naive times are in ``timezone`` (an IANA name, default UTC)."""

    def __init__(self, timezone: str = "UTC") -> None:
        self._zone: tzinfo = ZoneInfo(timezone)

    def readings(self, line: str) -> list[Reading]:
        """The readings of one record; raises ``MalformedLine``."""
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MalformedLine("json", f"not JSON: {exc.msg} at column {exc.colno}") from None
        except ValueError as exc:  # an integer of more digits than Python converts
            raise MalformedLine("json", f"not JSON that Python reads: {exc}") from None
        if not isinstance(record, dict):
            raise MalformedLine("json", "not a JSON object")
        parts = [_text(record, key, required=True) for key in DEVICE_PARTS]
        device_id = "/".join(device_part(part) for part in parts)
        if any(not device_part(part) for part in parts):
            raise MalformedLine("device", f"{'/'.join(DEVICE_PARTS)} leave an empty device part")
        state = _text(record, "Etat", required=True).strip().upper()
        if state not in STATES:
            raise MalformedLine("Etat", f"Etat {state!r} is neither SUCCESS nor FAILED")
        tags = {
            "zone": _text(record, "Zone"),
            "object_id": _text(record, "Objet_Id"),
            "transformation": _text(record, "Transformation"),
            "state": state,
        }
        if state == "FAILED":
            tags["description"] = _text(record, "Description")[:MAX_TAG_CHARS]
        nanos = self._run_time(record)
        values = [(metric, _number(record, key), unit) for key, metric, unit in MEASURES]
        values.append((SUCCESS_METRIC, STATES[state], ""))
        return [
            Reading(
                device_id=device_id,
                time_unix_nano=nanos,
                metric=metric,
                value=value,
                unit=unit,
                tags={key: tag[:MAX_TAG_CHARS] for key, tag in tags.items() if tag},
            )
            for metric, value, unit in values
            if value is not None
        ]

    def _run_time(self, record: dict[str, Any]) -> int:
        for key in ("Fin", "Debut"):
            text = _text(record, key)
            if text:
                return self._nanos(self._datetime(key, text))
        day = _text(record, "Date_Sequence")
        if not day:
            raise MalformedLine("time", "no Fin, Debut or Date_Sequence to date the run")
        moment = self._datetime("Date_Sequence", day)
        hour = _number(record, "Heure_Sequence") or 0.0
        minute = _number(record, "Minute_Sequence") or 0.0
        if not (0 <= hour < 24 and 0 <= minute < 60 and hour.is_integer() and minute.is_integer()):
            raise MalformedLine("time", f"Heure_Sequence {hour:g} / Minute_Sequence {minute:g}")
        clock = time(int(hour), int(minute), tzinfo=moment.tzinfo)
        return self._nanos(datetime.combine(moment.date(), clock))

    def _datetime(self, key: str, text: str) -> datetime:
        parsed: datetime | None = None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            for layout in _DATE_FORMATS:
                try:
                    parsed = datetime.strptime(text, layout)
                    break
                except ValueError:
                    continue
        if parsed is None:
            raise MalformedLine("time", f"{key} {text!r} is not a date-time")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self._zone)
        return parsed

    @staticmethod
    def _nanos(moment: datetime) -> int:
        return line_time(moment, moment.isoformat())


def _text(record: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise MalformedLine(key, f"{key} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedLine(key, f"{key} is a {type(value).__name__}, not text")
    return str(value)


def _number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    # The ETL logs may write a decimal comma: "1,5" is 1.5.
    number = finite_number(value.strip().replace(",", ".") if isinstance(value, str) else value)
    if number is None:
        raise MalformedLine(key, f"{key} {value!r} is not a finite number")
    return number
