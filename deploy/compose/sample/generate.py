"""Writes the compose stack's sample ETL run log (JSON Lines) to stdout, the same every time.

    python3 deploy/compose/sample/generate.py > deploy/compose/sample/etl-runs.jsonl

A week of runs (Monday 3 to Sunday 9 November 2025, Paris time) of a few ETL jobs, in the
schema ``sluice replay etl`` reads (README, "Log replayers and polling connectors"). Each job
runs at fixed hours; about one run in twelve fails, with a reason in ``Description``. Times
carry no offset: replay them with ``--timezone Europe/Paris``. Standard library only.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

SEED = 20251103
FIRST_DAY = datetime(2025, 11, 3)
DAYS = 7
FAILURE_RATE = 1 / 12
FAILURES = (
    "duplicate key value violates unique constraint",
    "timeout reading the source after 600 s",
    "schema drift: column montant_ttc missing",
    "source file not found",
    "out of memory while sorting",
)


@dataclass(frozen=True)
class Job:
    """One scheduled ETL job: where it runs, what it moves, when, and how heavy it is."""

    company: str
    zone: str
    source: str
    object_id: str
    obj: str
    transformation: str
    hours: tuple[int, ...]
    minute: int
    typical_s: float


JOBS = (
    Job("Société Générale Exemple", "EU-West", "sap", "OBJ-001", "clients", "dedupe",
        (2, 14), 0, 95.0),
    Job("Société Générale Exemple", "EU-West", "sap", "OBJ-002", "factures", "aggregate",
        (1, 7, 13, 19), 30, 240.0),
    Job("Acme", "EU-West", "salesforce", "OBJ-101", "opportunities", "upsert",
        tuple(range(6, 22)), 5, 40.0),
    Job("Acme", "US-East", "postgres", "OBJ-102", "orders", "copy",
        tuple(range(0, 24, 3)), 15, 150.0),
    Job("Globex", "EU-Central", "sftp", "OBJ-201", "stocks", "parse",
        (5, 11, 17, 23), 45, 60.0),
    Job("Globex", "EU-Central", "api", "OBJ-202", "prix", "enrich",
        (8, 20), 10, 420.0),
)  # fmt: skip


def runs(rng: random.Random) -> list[dict[str, object]]:
    """Every run of the week, in start order, numbered from 1."""
    scheduled = [
        (FIRST_DAY + timedelta(days=day, hours=hour, minutes=job.minute), job)
        for day in range(DAYS)
        for job in JOBS
        for hour in job.hours
    ]
    scheduled.sort(key=lambda item: (item[0], item[1].object_id))
    return [run(number, at, job, rng) for number, (at, job) in enumerate(scheduled, start=1)]


def run(number: int, scheduled: datetime, job: Job, rng: random.Random) -> dict[str, object]:
    """One run record: it starts up to a minute late, and a failure ends it early."""
    start = scheduled + timedelta(seconds=rng.randrange(60))
    failed = rng.random() < FAILURE_RATE
    duration = round(job.typical_s * rng.lognormvariate(0.0, 0.35), 1)
    if failed:
        duration = round(duration * rng.uniform(0.05, 0.6), 1)
    end = start + timedelta(seconds=duration)
    return {
        "No_Sequence": number,
        "Date_Sequence": scheduled.strftime("%Y-%m-%d"),
        "Heure_Sequence": scheduled.hour,
        "Minute_Sequence": scheduled.minute,
        "Entreprise": job.company,
        "Zone": job.zone,
        "Source": job.source,
        "Objet_Id": job.object_id,
        "Objet": job.obj,
        "Transformation": job.transformation,
        "Etat": "FAILED" if failed else "SUCCESS",
        "Debut": start.strftime("%Y-%m-%d %H:%M:%S"),
        "Fin": end.strftime("%Y-%m-%d %H:%M:%S"),
        "Duree secondes": duration,
        "Description": rng.choice(FAILURES) if failed else "",
        "cpu_time (sec)": round(duration * rng.uniform(0.2, 0.9), 2),
        "memory_used (bytes)": int(job.typical_s * 2_000_000 * rng.uniform(0.5, 1.5)),
    }


def write(out: TextIO) -> None:
    """The whole log, one JSON object per line."""
    for record in runs(random.Random(SEED)):
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write(sys.stdout)
