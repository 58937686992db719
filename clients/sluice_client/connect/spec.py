"""Connector specs: YAML files checked against ``spec.schema.json`` when they are loaded.

``connectors/schema.json`` is the same schema (a link), for editors. ``${VAR}`` and
``${VAR:-default}`` are replaced from the environment before validation, so secrets such as
API tokens stay out of the file. Every problem is reported at once, one line each, starting
with the dotted field it concerns (``mapping.device_id: is required``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from croniter import croniter
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from sluice_client.cli_common import parse_duration
from sluice_client.connect.mapping import ItemMapping, compile_field, compile_mapping
from sluice_client.connect.pages import DEFAULT_MAX_PAGES, NEXT_FIELD, Pagination
from sluice_client.interpolation import InterpolationError, interpolate

SCHEMA_RESOURCE = "spec.schema.json"
_REQUIRED = re.compile(r"'([^']+)' is a required property")
DEFAULTS: Mapping[str, Any] = {"enabled": True, "retries": 3, "backoff_seconds": 1.0}
DEFAULT_TIMEOUT_S = 10.0


class SpecError(ValueError):
    """A connector spec that cannot be used; ``problems`` has one line per field."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: invalid connector spec:\n" + "\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """The JSON API a connector polls."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    cursor_param: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    pagination: Pagination | None = None
    """How a response names its next page; None: one request per poll."""


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """A validated connector spec."""

    name: str
    version: int
    mode: Literal["incremental", "full"]
    interval_s: float | None
    """Seconds between polls, or None with ``cron``."""
    cron: str | None
    enabled: bool
    source: SourceSpec
    mapping: ItemMapping
    retries: int
    backoff_s: float
    owner: str


@cache
def schema() -> dict[str, Any]:
    """The connector spec JSON Schema."""
    text = resources.files("sluice_client.connect").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_spec(path: Path, environ: Mapping[str, str] | None = None) -> ConnectorSpec:
    """Read, interpolate and validate the spec at ``path``; raises ``SpecError``."""
    try:
        text = interpolate(
            path.read_text(encoding="utf-8"), os.environ if environ is None else environ
        )
        document = yaml.safe_load(text)
    except OSError as exc:
        raise SpecError(path, [f"(file): cannot read it: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            path, [f"(file): not UTF-8 text: {exc.reason} at byte {exc.start}"]
        ) from None
    except InterpolationError as exc:
        raise SpecError(path, [f"(file): {exc}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError(path, [f"(file): not valid YAML: {exc}"]) from None
    return parse_spec(document, path)


def parse_spec(document: object, path: Path = Path("<spec>")) -> ConnectorSpec:
    """A spec from its parsed YAML; raises ``SpecError``."""
    problems = sorted(set(_schema_problems(document)))
    if problems:
        raise SpecError(path, problems)
    assert isinstance(document, dict)
    data = {**DEFAULTS, **document}
    schedule = data["schedule"]
    if "cron" in schedule and not croniter.is_valid(schedule["cron"]):
        raise SpecError(path, [f"schedule.cron: {schedule['cron']!r} is not a cron expression"])
    try:
        mapping = compile_mapping(data["mapping"])
    except ValueError as exc:
        raise SpecError(path, [str(exc)]) from None
    source = data["source"]
    pagination = _pagination(source.get("pagination"), path)
    return ConnectorSpec(
        name=data["name"],
        version=data["version"],
        mode=data["mode"],
        interval_s=parse_duration(schedule["interval"]) if "interval" in schedule else None,
        cron=schedule.get("cron"),
        enabled=data["enabled"],
        source=SourceSpec(
            url=source["url"],
            headers=dict(source.get("headers", {})),
            params=dict(source.get("params", {})),
            cursor_param=source.get("cursor_param"),
            timeout_s=float(source.get("timeout_seconds", DEFAULT_TIMEOUT_S)),
            pagination=pagination,
        ),
        mapping=mapping,
        retries=data["retries"],
        backoff_s=float(data["backoff_seconds"]),
        owner=data["owner"],
    )


def _pagination(raw: Mapping[str, Any] | None, path: Path) -> Pagination | None:
    if raw is None:
        return None
    where = raw["next"]
    param = raw.get("param")
    max_pages = raw.get("max_pages", DEFAULT_MAX_PAGES)
    if where == "link":
        if param is not None:
            problem = "source.pagination.param: a token needs a JSONPath in next, not link"
            raise SpecError(path, [problem])
        return Pagination(None, None, max_pages)
    try:
        return Pagination(compile_field(NEXT_FIELD, where), param, max_pages)
    except ValueError as exc:
        raise SpecError(path, [str(exc)]) from None


def _schema_problems(document: object) -> Iterator[str]:
    for error in Draft202012Validator(schema()).iter_errors(document):
        yield _describe(error)


def _dotted(where: list[str], *more: str) -> str:
    return ".".join([*where, *more]) or "(top level)"


def _describe(error: ValidationError) -> str:
    """One line per problem, naming the dotted field (``mapping.device_id: is required``)."""
    where = [str(part) for part in error.absolute_path]
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator in ("anyOf", "oneOf") and error.context:
        missing = [_REQUIRED.fullmatch(e.message) for e in error.context]
        names = [m.group(1) for m in missing if m is not None]
        if len(names) == len(error.context):
            return " or ".join(_dotted(where, name) for name in names) + ": is required"
        # The alternative of the instance's own type says the most ("path is required").
        fitting = [e for e in error.context if e.validator != "type"] or error.context
        return _describe(best_match(fitting))
    if error.validator == "required":
        match = _REQUIRED.fullmatch(error.message)
        if match is not None:
            return f"{_dotted(where, match.group(1))}: is required"
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = sorted(key for key in instance if key not in known)
        return "\n".join(f"{_dotted(where, key)}: unknown field" for key in unknown)
    if error.validator == "dependentRequired" and isinstance(error.validator_value, dict):
        for key, needs in error.validator_value.items():
            absent = [need for need in needs if key in instance and need not in instance]
            if absent:
                return f"{_dotted(where, absent[0])}: is required with {_dotted(where, key)}"
    return f"{_dotted(where)}: {error.message}"
