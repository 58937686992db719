"""Polling connectors (``sluice connect``): poll a JSON API on a schedule, map its items to
readings with JSONPath, and stream them with the SDK, resuming from a checkpoint.

- ``load_spec``: a connector spec (YAML) validated against ``spec.schema.json``;
- ``Connector``: polls, maps, sends, and moves the checkpoint once the server acknowledged;
- ``CheckpointStore``: the checkpoint file, replaced atomically;
- ``IntervalSchedule``, ``CronSchedule``, ``Clock``: when to poll, on an injectable clock.
"""

from sluice_client.connect.checkpoint import Checkpoint, CheckpointError, CheckpointStore
from sluice_client.connect.fetch import FetchError, backoff_delay
from sluice_client.connect.mapping import Drift, ItemMapping, compile_mapping
from sluice_client.connect.pages import Pagination
from sluice_client.connect.reports import ConnectorStats, PollReport
from sluice_client.connect.runner import Connector, ReadingSink, cursor_key
from sluice_client.connect.schedule import Clock, CronSchedule, IntervalSchedule, SystemClock
from sluice_client.connect.spec import ConnectorSpec, SpecError, load_spec, parse_spec, schema

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointStore",
    "Clock",
    "Connector",
    "ConnectorSpec",
    "ConnectorStats",
    "CronSchedule",
    "Drift",
    "FetchError",
    "IntervalSchedule",
    "ItemMapping",
    "Pagination",
    "PollReport",
    "ReadingSink",
    "SpecError",
    "SystemClock",
    "backoff_delay",
    "compile_mapping",
    "cursor_key",
    "load_spec",
    "parse_spec",
    "schema",
]
