"""The mapping of a connector spec: a JSON response's items to readings, with drift reported.

A mapping field is a JSONPath when it starts with ``$`` (evaluated against the item; the
first match counts) and a literal otherwise. When the source's shape drifts (a field renamed
or removed, a number become text), the item's problem is counted under the mapping field it
concerns and reported, never fatal:

- ``device_id`` or ``timestamp``: the item is skipped;
- ``metric``, ``value`` or ``unit`` (the single-value form), or one of ``values`` or its
  ``unit``: that reading is skipped (a value in an unknown unit would be misread), the
  item's others still go;
- a tag, the location or the cursor: the reading goes without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from sluice.v1.ingest_pb2 import Reading
from sluice_client.numbers import finite_number
from sluice_client.timestamps import TimestampError, json_time_to_unix_nano

_MISSING: Final = object()


class Drift(Exception):
    """One mapping field that did not fit one item."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Field:
    """A mapping field: a compiled JSONPath, or a literal."""

    name: str
    """The dotted spec field, e.g. ``mapping.tags.region``."""
    source: str
    path: JSONPath | None

    def get(self, item: object) -> object:
        """The field's value in ``item``; ``Drift`` when the path matches nothing."""
        if self.path is None:
            return self.source
        matches = self.path.find(item)
        if not matches:
            raise Drift(self.name, f"no match for {self.source}")
        value: object = matches[0].value
        return value

    def text(self, item: object) -> str:
        """The field as text (a number is written as such)."""
        value = self.get(item)
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise Drift(self.name, f"{self.source} is a {type(value).__name__}, not text")

    def number(self, item: object) -> float:
        """The field as a finite number (numeric text is accepted)."""
        value = self.get(item)
        number = finite_number(value)
        if number is None:
            raise Drift(self.name, f"{self.source} is {value!r}, not a finite number")
        return number


def compile_field(name: str, source: str) -> Field:
    """A ``Field``; raises ``ValueError`` naming ``name`` for a JSONPath that does not parse."""
    if not source.startswith("$"):
        return Field(name, source, None)
    try:
        return Field(name, source, parse_jsonpath(source))
    except JSONPathError as exc:
        raise ValueError(f"{name}: {source!r} is not a JSONPath: {exc}") from None


@dataclass(frozen=True, slots=True)
class ValueField:
    """One reading per item: its metric, value and unit fields."""

    metric: Field
    value: Field
    unit: Field | None


@dataclass(slots=True)
class ItemResult:
    """The readings of one item, its cursor, and the drift met on the way."""

    readings: list[Reading] = field(default_factory=list)
    cursor: object = None
    drift: list[Drift] = field(default_factory=list)
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class ItemMapping:
    """A compiled ``mapping`` section."""

    items: Field
    container: Field | None
    """``items`` without its trailing ``[*]``: tells a renamed list from an empty one."""
    device_id: Field
    timestamp: Field | None
    values: tuple[ValueField, ...]
    tags: tuple[tuple[str, Field], ...]
    location: tuple[Field, Field] | None
    cursor: Field | None

    def items_of(self, response: object) -> list[object]:
        """The items of a response; ``Drift`` when the list they live in is not there."""
        assert self.items.path is not None
        found = [match.value for match in self.items.path.find(response)]
        if not found and self.container is not None:
            self.container.get(response)  # raises Drift when the list itself is gone
        return found

    def map_item(self, item: object) -> ItemResult:
        """The readings of one item (see the module docstring for what drift skips)."""
        result = ItemResult()
        try:
            device_id = self.device_id.text(item)
            nanos = 0 if self.timestamp is None else _nanos(self.timestamp, item)
        except Drift as drift:
            result.drift.append(drift)
            result.skipped = True
            return result
        tags = self._tags(item, result)
        location = self._location(item, result)
        for value in self.values:
            try:
                reading = Reading(
                    device_id=device_id,
                    time_unix_nano=nanos,
                    metric=value.metric.text(item),
                    value=value.value.number(item),
                    unit="" if value.unit is None else value.unit.text(item),
                    tags=tags,
                )
            except Drift as drift:
                result.drift.append(drift)
                continue
            if location is not None:
                reading.location.lat, reading.location.lon = location
            result.readings.append(reading)
        result.skipped = not result.readings
        if self.cursor is not None:
            try:
                result.cursor = self.cursor.get(item)
            except Drift as drift:
                result.drift.append(drift)
        return result

    def _tags(self, item: object, result: ItemResult) -> dict[str, str]:
        tags = {}
        for key, tag in self.tags:
            try:
                tags[key] = tag.text(item)
            except Drift as drift:
                result.drift.append(drift)
        return tags

    def _location(self, item: object, result: ItemResult) -> tuple[float, float] | None:
        if self.location is None:
            return None
        try:
            return self.location[0].number(item), self.location[1].number(item)
        except Drift as drift:
            result.drift.append(drift)
            return None


def _nanos(timestamp: Field, item: object) -> int:
    value = timestamp.get(item)
    try:
        return json_time_to_unix_nano(value)
    except TimestampError as exc:
        raise Drift(timestamp.name, f"{timestamp.source}: {exc}") from None


def compile_mapping(raw: Mapping[str, Any]) -> ItemMapping:
    """An ``ItemMapping`` from a schema-valid ``mapping`` section; ``ValueError`` names a bad
    JSONPath."""
    items = compile_field("mapping.items", raw["items"])
    container = None
    if raw["items"].endswith("[*]") and raw["items"] != "$[*]":
        container = compile_field("mapping.items", raw["items"][:-3])
    values: list[ValueField] = []
    if "value" in raw:
        unit = raw.get("unit")
        values.append(
            ValueField(
                compile_field("mapping.metric", raw["metric"]),
                compile_field("mapping.value", raw["value"]),
                None if unit is None else compile_field("mapping.unit", unit),
            )
        )
    for metric, spec in raw.get("values", {}).items():
        name = f"mapping.values.{metric}"
        path, unit = (spec, None) if isinstance(spec, str) else (spec["path"], spec.get("unit"))
        values.append(
            ValueField(
                Field(name, metric, None),
                compile_field(name, path),
                None if unit is None else compile_field(f"{name}.unit", unit),
            )
        )
    location = raw.get("location")
    return ItemMapping(
        items=items,
        container=container,
        device_id=compile_field("mapping.device_id", raw["device_id"]),
        timestamp=None
        if "timestamp" not in raw
        else compile_field("mapping.timestamp", raw["timestamp"]),
        values=tuple(values),
        tags=tuple(
            (key, compile_field(f"mapping.tags.{key}", source))
            for key, source in raw.get("tags", {}).items()
        ),
        location=None
        if location is None
        else (
            compile_field("mapping.location.lat", location["lat"]),
            compile_field("mapping.location.lon", location["lon"]),
        ),
        cursor=None if "cursor" not in raw else compile_field("mapping.cursor", raw["cursor"]),
    )
