"""The device registry file: loading, validation errors, and enrichment of readings."""

from __future__ import annotations

from pathlib import Path

import pytest
from process_helpers import Harness, valid_reading

from sluice.core.config.base import ConfigError
from sluice.core.config.checks import TransformsConfig
from sluice.stages.process.registry import RegisteredDevice, load_registry
from tests.support.sinks import readings_after_checks

GOOD = """
devices:
  pump-7:
    site: plant-north
    location: {lat: 42.6, lon: -5.6}
  gw-1:
    site: depot
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_registry_file_is_loaded_with_geohashes(tmp_path: Path) -> None:
    assert load_registry(write(tmp_path, GOOD), geohash_precision=5) == {
        "pump-7": RegisteredDevice(site="plant-north", location=(42.6, -5.6), geohash="ezs42"),
        "gw-1": RegisteredDevice(site="depot", location=None, geohash=""),
    }


def test_an_empty_device_list_is_valid(tmp_path: Path) -> None:
    assert load_registry(write(tmp_path, "devices: {}\n"), geohash_precision=7) == {}


BAD_FILES: list[tuple[str, str, str]] = [
    ("empty file", "", r"\(top level\): Input should be a valid dictionary"),
    ("not a mapping", "- a\n- b\n", r"\(top level\): Input should be a valid dictionary"),
    ("devices missing", "sites: {}\n", r"devices: Field required"),
    ("unknown top-level key", "devices: {}\nsites: {}\n", r"sites: unknown key"),
    ("unknown device key", "devices: {d: {site: s, zone: z}}\n", r"devices\.d\.zone: unknown key"),
    ("site missing", "devices: {d: {}}\n", r"devices\.d\.site: Field required"),
    ("site empty", "devices: {d: {site: ''}}\n", r"devices\.d\.site: String should have at least"),
    (
        "latitude over 90",
        "devices: {d: {site: s, location: {lat: 91, lon: 0}}}\n",
        r"devices\.d\.location\.lat: Input should be less than or equal to 90",
    ),
    (
        "longitude under -180",
        "devices: {d: {site: s, location: {lat: 0, lon: -181}}}\n",
        r"devices\.d\.location\.lon: Input should be greater than or equal to -180",
    ),
    (
        "latitude NaN",
        "devices: {d: {site: s, location: {lat: .nan, lon: 0}}}\n",
        r"devices\.d\.location\.lat: Input should be a finite number",
    ),
    (
        "longitude missing",
        "devices: {d: {site: s, location: {lat: 1}}}\n",
        r"devices\.d\.location\.lon: Field required",
    ),
    ("not YAML", "devices: {d: [\n", r"is not valid YAML"),
]


@pytest.mark.parametrize(
    ("text", "error"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_a_bad_registry_file_is_refused_naming_the_key(
    tmp_path: Path, text: str, error: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"^transforms\.device_registry: ") as raised:
        load_registry(path, geohash_precision=7)
    assert str(path) in str(raised.value)
    assert raised.match(error)


def test_a_missing_registry_file_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=r"^transforms\.device_registry: cannot read .*absent"):
        load_registry(path, geohash_precision=7)


async def test_start_refuses_a_bad_registry(harness: Harness, tmp_path: Path) -> None:
    path = write(tmp_path, "devices: {d: {}}\n")
    stage = harness.build(transforms=TransformsConfig(device_registry=path))
    with pytest.raises(
        ConfigError, match=r"(?s)^transforms\.device_registry: .*devices\.d\.site: Field required"
    ):
        await stage.start()


async def test_registered_devices_get_their_site_and_location(
    harness: Harness, tmp_path: Path
) -> None:
    path = write(tmp_path, GOOD)
    stage = harness.build(transforms=TransformsConfig(device_registry=path, geohash_precision=5))
    await stage.start()
    batch = await harness.run(
        valid_reading(device_id="pump-7"),
        valid_reading(device_id="pump-7", location={"lat": 57.64911, "lon": 10.40744}),
        valid_reading(device_id="gw-1", site="spoofed"),
        valid_reading(device_id="stranger", site="spoofed", geohash="zzzzz"),
    )
    enriched = [
        (r.site, r.HasField("location"), r.location.lat, r.location.lon, r.geohash)
        for r in readings_after_checks(batch)
    ]
    assert enriched == [
        ("plant-north", True, 42.6, -5.6, "ezs42"),
        ("plant-north", True, 57.64911, 10.40744, "u4pru"),
        ("depot", False, 0.0, 0.0, ""),
        ("", False, 0.0, 0.0, ""),
    ]
    assert batch.accepted == 4
    assert batch.changed is True


async def test_a_registered_reading_that_is_already_enriched_is_unchanged(
    harness: Harness, tmp_path: Path
) -> None:
    stage = harness.build(
        transforms=TransformsConfig(device_registry=write(tmp_path, GOOD), geohash_precision=5)
    )
    await stage.start()
    sent = valid_reading(
        device_id="pump-7", site="plant-north", location={"lat": 42.6, "lon": -5.6}, geohash="ezs42"
    )
    batch = await harness.run(sent)
    assert batch.changed is False
    assert readings_after_checks(batch)[0] == sent


async def test_without_a_registry_every_client_sent_site_is_cleared(harness: Harness) -> None:
    batch = await harness.run(valid_reading(device_id="pump-7", site="plant-north"))
    assert readings_after_checks(batch)[0].site == ""
