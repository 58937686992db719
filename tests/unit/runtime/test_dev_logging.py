"""``sluice dev`` logs WARNING and above as text, unless the config sets ``logging.*``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.core.config.settings import load_settings
from sluice.runtime.dev import dev_logging


@pytest.mark.parametrize(
    ("file", "environ", "expected"),
    [
        ("", {}, ("WARNING", "text")),
        ("logging: {}\n", {}, ("WARNING", "text")),
        ("logging: {level: INFO}\n", {}, ("INFO", "text")),
        ("logging: {format: json}\n", {}, ("WARNING", "json")),
        ("logging: {level: DEBUG, format: json}\n", {}, ("DEBUG", "json")),
        # Set to the serving default: still set, so still what the file asked for.
        ("logging: {level: INFO, format: json}\n", {}, ("INFO", "json")),
        ("", {"SLUICE__LOGGING__FORMAT": "json"}, ("WARNING", "json")),
    ],
)
def test_what_the_config_sets_wins_and_the_rest_is_the_dev_default(
    tmp_path: Path, file: str, environ: dict[str, str], expected: tuple[str, str]
) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(file, encoding="utf-8")

    logs = dev_logging(load_settings(path, environ).logging)

    assert (logs.level, logs.format) == expected


def test_serving_commands_keep_json_by_default(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("", encoding="utf-8")

    logs = load_settings(path, {}).logging

    assert (logs.level, logs.format) == ("INFO", "json")
