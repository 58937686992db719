"""The device registry: a YAML file that maps device_id to a site and a location.

```yaml
devices:
  pump-7:
    site: plant-north
    location: {lat: 52.52, lon: 13.405}
  gw-1:
    site: depot          # location is optional
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, ValidationError
from pygeohash import encode

from sluice.core.config.base import ComponentConfig, ConfigError, describe

REGISTRY_KEY = "transforms.device_registry"

Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]


class RegistryLocation(ComponentConfig):
    """Where a registered device stands."""

    lat: Latitude
    lon: Longitude


class RegistryEntry(ComponentConfig):
    """One device's entry in the registry file."""

    site: Annotated[str, Field(min_length=1)]
    location: RegistryLocation | None = None


class RegistryFile(ComponentConfig):
    """The whole registry file."""

    devices: dict[str, RegistryEntry]


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    """What enrichment writes into a device's readings. An unregistered device has an empty
    site and no location."""

    site: str
    location: tuple[float, float] | None
    geohash: str
    """The geohash of ``location`` at the configured precision ("" without a location)."""


UNREGISTERED = RegisteredDevice(site="", location=None, geohash="")


def load_registry(path: Path, geohash_precision: int) -> dict[str, RegisteredDevice]:
    """Read and validate the registry file; raise ``ConfigError`` naming the file and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{REGISTRY_KEY}: cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{REGISTRY_KEY}: {path} is not valid YAML: {exc}") from exc
    try:
        registry = RegistryFile.model_validate(data)
    except ValidationError as exc:
        problems = describe(exc).replace("\n", "\n  ")
        raise ConfigError(f"{REGISTRY_KEY}: {path} is invalid:\n  {problems}") from None
    return {
        device_id: _registered(entry, geohash_precision)
        for device_id, entry in registry.devices.items()
    }


def _registered(entry: RegistryEntry, geohash_precision: int) -> RegisteredDevice:
    if entry.location is None:
        return RegisteredDevice(site=entry.site, location=None, geohash="")
    lat, lon = entry.location.lat, entry.location.lon
    return RegisteredDevice(entry.site, (lat, lon), encode(lat, lon, geohash_precision))
