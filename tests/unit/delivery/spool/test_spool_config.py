"""The spool and breaker config: defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.core.config.base import ConfigError
from sluice.core.config.settings import load_settings
from sluice.core.config.spool import DEFAULT_DIR


def load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sluice.yaml"
    path.write_text(text, encoding="utf-8")
    load_settings(path, environ={})


def test_the_spool_is_on_by_default_and_syncs_every_batch() -> None:
    settings = load_settings(None, environ={})

    assert settings.spool.enabled
    assert (settings.spool.dir, settings.spool.fsync) == (DEFAULT_DIR, "batch")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("spool:\n  fsinc: batch\n", "spool.fsinc: unknown key"),
        ("spool:\n  fsync: always\n", "spool.fsync"),
        ("spool:\n  max_bytes: 0\n", "spool.max_bytes"),
        ("spool:\n  max_bytes: 100000\n  segment_bytes: 200000\n", "segment_bytes"),
        ("kafka:\n  breaker:\n    stall_timeout_ms: 0\n", "kafka.breaker.stall_timeout_ms"),
        (
            "kafka:\n  breaker:\n    backoff_initial_ms: 900\n    backoff_max_ms: 100\n",
            "backoff_max_ms",
        ),
    ],
)
def test_a_bad_value_names_its_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load(tmp_path, text)


def test_an_environment_override_reaches_the_spool(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"SLUICE__SPOOL__FSYNC": "never"})

    assert settings.spool.fsync == "never"
