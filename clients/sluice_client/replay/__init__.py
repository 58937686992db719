"""Log replayers: turn log lines into readings and stream them with the SDK (``sluice replay``).

- ``AccessLogParser``: nginx/Apache access logs (combined format, optional request time);
  ``WindowAggregator`` counts and sums them per time window instead (``--aggregate``).
- ``EtlLogParser``: ETL pipeline run logs (JSON Lines).
- ``LogLines``: a file's lines, read once or followed across rotation and truncation.
- ``replay``: streams the readings of lines through an ``IngestClient``; malformed lines are
  counted by reason in ``ReplayStats``, never fatal.
"""

from sluice_client.replay.accesslog import AccessLogParser, AccessRecord
from sluice_client.replay.aggregate import WindowAggregator
from sluice_client.replay.etl import EtlLogParser
from sluice_client.replay.follow import IDLE, LogLines
from sluice_client.replay.malformed import MalformedLine, MalformedReport
from sluice_client.replay.paths import template_of
from sluice_client.replay.runner import Aggregated, Converter, PerLine, ReplayStats, replay

__all__ = [
    "IDLE",
    "AccessLogParser",
    "AccessRecord",
    "Aggregated",
    "Converter",
    "EtlLogParser",
    "LogLines",
    "MalformedLine",
    "MalformedReport",
    "PerLine",
    "ReplayStats",
    "WindowAggregator",
    "replay",
    "template_of",
]
