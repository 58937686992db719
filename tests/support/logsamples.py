"""Realistic log files for the replay tests, with malformed lines mixed in.

Each generator is deterministic for a seed and returns the text with what a correct parser
must make of it: the good lines' count and the malformed lines' count by reason.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0",
    "curl/8.5.0",
    'python-requests/2.31 "quoted"',
    "-",
)
PATHS = (
    ("/", "/"),
    ("/api/v1/items/{n}", "/api/v1/items/{id}"),
    ("/api/v1/users/{uuid}/orders", "/api/v1/users/{uuid}/orders"),
    ("/static/app.{hash}.js", "/static/app.{hash}.js"),
    ("/assets/{hash}", "/assets/{hash}"),
    ("/search?q=sensor+{n}", "/search"),
    ("/reports/{n}.csv", "/reports/{id}.csv"),
)
STATUSES = (200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 500, 502)
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD")


@dataclass
class Sample:
    """A generated log: its text, good lines and malformed lines by reason."""

    text: str
    good: int
    malformed: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def malformed_total(self) -> int:
        """Malformed lines in the text."""
        return sum(self.malformed.values())


def log_time(moment: datetime) -> str:
    """``10/Oct/2024:13:55:36 +0200`` for an aware datetime."""
    return moment.strftime("%d/%b/%Y:%H:%M:%S %z")


def access_log(
    lines: int = 300,
    *,
    seed: int = 7,
    timed: bool = True,
    vhost: bool = False,
    start: datetime | None = None,
) -> Sample:
    """An nginx access log of ``lines`` requests over about a minute per 100 lines, slightly
    out of order, with a few malformed lines of each kind and blank lines."""
    rng = random.Random(seed)
    moment = start or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    out: list[str] = []
    templates: dict[str, int] = {}
    for n in range(lines):
        moment += timedelta(seconds=rng.choice((0, 0, 1)))
        shown = moment - timedelta(seconds=rng.choice((0, 0, 0, 1)))  # slight disorder
        raw, template = rng.choice(PATHS)
        target = raw.format(
            n=rng.randrange(1, 99_999),
            uuid=uuid.UUID(int=rng.getrandbits(128)),
            hash=f"{rng.getrandbits(56):014x}9f",  # a digit and a letter, as real hashes have
        )
        templates[template] = templates.get(template, 0) + 1
        status = rng.choice(STATUSES)
        line = (
            f"198.51.100.{n % 250} - {rng.choice(('-', 'alice'))} [{log_time(shown)}] "
            f'"{rng.choice(METHODS)} {target} HTTP/1.1" {status} {rng.randrange(0, 50_000)} '
            f'"https://shop.example/ref" "{rng.choice(AGENTS).replace(chr(34), chr(92) + chr(34))}"'
        )
        if timed:
            line += f" {rng.uniform(0.001, 2.5):.3f}"
        if vhost:
            line = f"shop.example:443 {line}"
        out.append(line)
    bad_time = log_time(moment).replace(moment.strftime("%b"), "Foo")
    malformed = [
        ("format", "this is not an access log line"),
        ("format", out[0][: len(out[0]) // 2]),  # a torn write
        ("format", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        ("time", out[1].replace(out[1][out[1].index("[") + 1 : out[1].index("]")], bad_time)),
    ]
    if timed:
        malformed.append(("request_time", out[2].rsplit(" ", 1)[0] + " fast"))
    for offset, (_, bad) in enumerate(malformed):
        out.insert(10 + offset * 37, bad)
    out.insert(5, "")
    counts: dict[str, int] = {}
    for reason, _ in malformed:
        counts[reason] = counts.get(reason, 0) + 1
    return Sample("\n".join(out) + "\n", lines, counts, {"templates": templates})


ENTERPRISES = ("Acme", "Société Générale", "Globex")
SOURCES = ("sap", "salesforce", "postgres")
OBJECTS = ("customers", "orders", "invoices")
TRANSFORMATIONS = ("dedupe", "join", "aggregate", "load")


def etl_record(rng: random.Random, sequence: int, end: datetime) -> dict[str, Any]:
    """One realistic ETL run record ending at ``end`` (naive, local time)."""
    duration = round(rng.uniform(0.5, 600.0), 2)
    begin = end - timedelta(seconds=duration)
    failed = rng.random() < 0.2
    return {
        "No_Sequence": sequence,
        "Date_Sequence": begin.strftime("%Y-%m-%d"),
        "Heure_Sequence": begin.hour,
        "Minute_Sequence": begin.minute,
        "Entreprise": rng.choice(ENTERPRISES),
        "Zone": rng.choice(("EU-West", "EU-Central", "US-East")),
        "Source": rng.choice(SOURCES),
        "Objet_Id": f"OBJ-{rng.randrange(1, 999):03d}",
        "Objet": rng.choice(OBJECTS),
        "Transformation": rng.choice(TRANSFORMATIONS),
        "Etat": "FAILED" if failed else "SUCCESS",
        "Debut": begin.strftime("%Y-%m-%d %H:%M:%S"),
        "Fin": end.strftime("%Y-%m-%d %H:%M:%S"),
        "Duree secondes": duration if rng.random() < 0.8 else str(duration).replace(".", ","),
        "Description": "violation de clé unique sur customers_pk" if failed else "",
        "cpu_time (sec)": round(duration * rng.uniform(0.1, 0.9), 3),
        "memory_used (bytes)": rng.randrange(10_000_000, 4_000_000_000),
    }


def etl_log(records: int = 120, *, seed: int = 11, end: datetime | None = None) -> Sample:
    """An ETL run log of ``records`` JSON lines with naive times ending at ``end`` (default:
    half an hour ago in UTC), with malformed lines of each kind mixed in."""
    rng = random.Random(seed)
    moment = end or datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=30)
    moment -= timedelta(seconds=30 * records)
    good = []
    for sequence in range(1, records + 1):
        moment += timedelta(seconds=30)
        good.append(etl_record(rng, sequence, moment))
    lines = [json.dumps(record, ensure_ascii=False) for record in good]
    broken = dict(good[0], Etat="RUNNING")
    no_device = {k: v for k, v in good[1].items() if k != "Objet"}
    bad_number = dict(good[2], **{"Duree secondes": "long"})
    no_time = {k: v for k, v in good[3].items() if k not in ("Debut", "Fin", "Date_Sequence")}
    malformed = [
        ("json", lines[4][:40]),
        ("json", "[1, 2, 3]"),
        ("Etat", json.dumps(broken)),
        ("Objet", json.dumps(no_device)),
        ("Duree secondes", json.dumps(bad_number)),
        ("time", json.dumps(no_time)),
    ]
    for offset, (_, bad) in enumerate(malformed):
        lines.insert(3 + offset * 11, bad)
    counts: dict[str, int] = {}
    for reason, _ in malformed:
        counts[reason] = counts.get(reason, 0) + 1
    failed = sum(1 for record in good if record["Etat"] == "FAILED")
    return Sample("\n".join(lines) + "\n", records, counts, {"records": good, "failed": failed})


def now_ns() -> int:
    """The wall clock, for tests that compare reading times with it."""
    return time.time_ns()
