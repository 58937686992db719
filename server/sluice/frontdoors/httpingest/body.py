"""The JSON body of ``POST /v1/ingest``, parsed and checked for shape, to a ``ReadingBatch``.

```json
{"source_id": "gw-7",
 "readings": [{"device_id": "dev-1", "metric": "temperature", "value": 21.5,
               "timestamp": "2024-06-01T12:00:00Z", "unit": "°C",
               "tags": {"zone": "a"}, "location": {"lat": 48.85, "lon": 2.35}}]}
```

Only the shape is checked here: JSON syntax, the fields' presence and types, unknown fields
and timestamps. Whether a reading's values pass the checks (device_id pattern, finite value,
time window, tag limits...) is the pipeline's business, and shows as PARTIAL or REJECTED.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError
from pydantic_core import ErrorDetails

from sluice.v1.ingest_pb2 import Reading, ReadingBatch
from sluice_client.timestamps import TimestampError, json_time_to_unix_nano


class BodyTooLarge(Exception):
    """The request body is longer than ``http.max_body_bytes``, as sent or once inflated."""


class BodyError(ValueError):
    """The body is not a well-formed batch; ``field`` names where (empty for the whole body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class LocationBody(_Shape):
    """``location``: latitude and longitude in degrees."""

    lat: float
    lon: float


class ReadingBody(_Shape):
    """One reading; ``timestamp`` is RFC 3339 or an epoch number, absent for "now"."""

    device_id: str
    metric: str
    value: float
    timestamp: JsonValue = None
    unit: str = ""
    tags: dict[str, str] = {}
    location: LocationBody | None = None


class BatchBody(_Shape):
    """A batch of readings from one source."""

    source_id: str = ""
    readings: list[ReadingBody]


def field_path(location: tuple[int | str, ...]) -> str:
    """``readings[3].tags.zone`` from pydantic's ``('readings', 3, 'tags', 'zone')``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _describe(error: ErrorDetails) -> BodyError:
    kind = error["type"]
    field = field_path(tuple(error["loc"]))
    if kind == "json_invalid":
        return BodyError("", f"the body is not valid JSON: {error['ctx'].get('error', '')}")
    if kind == "missing":
        return BodyError(field, "is required")
    if kind == "extra_forbidden":
        return BodyError(field, "is not a field of a batch or a reading")
    if kind == "model_type" and not field:
        return BodyError("", "the body must be a JSON object with a readings array")
    return BodyError(field, error["msg"])


def parse_body(raw: bytes) -> BatchBody:
    """The batch in ``raw``; raises ``BodyError`` naming the first field that is wrong."""
    try:
        return BatchBody.model_validate_json(raw)
    except ValidationError as exc:
        raise _describe(exc.errors()[0]) from None


def to_batch(body: BatchBody, source_id: str, session_id: str, seq: int) -> ReadingBatch:
    """The ``ReadingBatch`` of a parsed body, with the given identity."""
    readings = []
    for index, item in enumerate(body.readings):
        try:
            nanos = json_time_to_unix_nano(item.timestamp)
        except TimestampError as exc:
            raise BodyError(f"readings[{index}].timestamp", str(exc)) from None
        reading = Reading(
            device_id=item.device_id,
            metric=item.metric,
            value=item.value,
            time_unix_nano=nanos,
            unit=item.unit,
            tags=item.tags,
        )
        if item.location is not None:
            reading.location.lat = item.location.lat
            reading.location.lon = item.location.lon
        readings.append(reading)
    return ReadingBatch(
        seq=seq, source_id=body.source_id or source_id, session_id=session_id, readings=readings
    )
