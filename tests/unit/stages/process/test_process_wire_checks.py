"""The checks over the wire bytes (in C) decide exactly as the per-reading checks do.

Each example builds a batch of readings (valid, invalid, needing transforms) and encodes it
on the wire, sometimes in ways no serializer produces but a parser accepts: fields repeated
(the last wins), explicit defaults, packed times and values (unknown to a Reading), unknown
fields, fields out of order, map entries without a value. The checker given the walked
batch (or the parsed one, when the C walk leaves an unusual encoding to upb) must give the
same faults, count and ``changed`` flag as the checker given the parsed batch, which checks
every reading one by one, and the same accepted readings.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from process_helpers import NOW
from wire_encoding import field, tag_entry, time_field, value_field, varint

from sluice.core._wire import walk
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.stages.process.checker import ReadingChecker
from sluice.stages.process.registry import load_registry
from sluice.v1.ingest_pb2 import Reading, ReadingBatch

NS = NOW - 5_000_000_000
REGISTRY = """
devices:
  reg-1: {site: plant, location: {lat: 42.6, lon: -5.6}}
  reg-2: {site: depot}
"""


readings = st.builds(
    Reading,
    device_id=st.sampled_from(["dev-1", "dev-2", "reg-1", "reg-2", "", "bad id!", "d" * 200]),
    metric=st.sampled_from(["temperature", "pressure", "humidity", "rpm", "Bad!"]),
    unit=st.sampled_from(["°C", "°F", "Pa", "kPa", "%", "fraction", "", "furlong"]),
    value=st.one_of(
        st.sampled_from([0.0, 21.5, -5.0, 150.0, 1e300, float("nan"), float("inf")]),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    time_unix_nano=st.sampled_from(
        [0, NS, NS // 1000, NS // 1_000_000, NS // 10**9, NOW - 10**18, NOW + 10**12, -5]
    ),
    tags=st.one_of(
        st.just({}),
        st.dictionaries(
            st.sampled_from(["a", "zone", "", "k" * 70]),
            st.sampled_from(["", "x", "v" * 300]),
            max_size=3,
        ),
        st.just({f"t{i}": "v" for i in range(40)}),
    ),
    geohash=st.sampled_from(["", "", "", "u33d"]),
    site=st.sampled_from(["", "", "", "elsewhere"]),
)
locations = st.one_of(
    st.none(), st.sampled_from([(52.5, 13.4), (91.0, 0.0), (0.0, 0.0), (-33.9, 151.2)])
)
# Wire-level oddities appended to (or put before) a reading's canonical encoding.
extras = st.lists(
    st.one_of(
        st.builds(time_field, st.sampled_from([0, NS, NS + 1, 5])),
        st.builds(value_field, st.sampled_from([0.0, 1.5, float("nan")])),
        st.builds(lambda d: field(1, d.encode()), st.sampled_from(["dev-2", "", "bad id!"])),
        st.builds(lambda u: field(6, u.encode()), st.sampled_from(["°C", "°F", ""])),
        st.just(field(2, varint(NS) + varint(NS + 7))),  # packed times
        st.just(field(4, struct.pack("<dd", 1.0, 2.0))),  # packed values
        st.just(field(15, b"future")),  # an unknown field
        st.just(b"\x08" + varint(3)),  # field 1 with the wrong wire type
        st.just(tag_entry(b"zone", None)),  # a map entry without its value
        st.just(field(7, b"\x09" + struct.pack("<d", 10.0))),  # a second, partial location
    ),
    max_size=2,
)
encoded = st.tuples(readings, locations, extras, st.booleans())


def encode(
    reading: Reading, location: tuple[float, float] | None, odd: list[bytes], before: bool
) -> bytes:
    if location is not None:
        reading.location.lat, reading.location.lon = location
    canonical = reading.SerializeToString()
    payload = b"".join(odd) + canonical if before else canonical + b"".join(odd)
    return field(3, payload)


def accepted_readings(raw: bytes, value: bytes | None) -> ReadingBatch:
    return ReadingBatch.FromString(raw if value is None else value)


def check_both(checker_fast: ReadingChecker, checker_slow: ReadingChecker, raw: bytes) -> None:
    """The walked batch (when it walks) and the parsed one get the same verdicts."""
    fast = walk(raw) or ReadingBatch.FromString(raw)
    slow = ReadingBatch.FromString(raw)
    *fast_outcome, fast_value = checker_fast.check(fast, NOW)
    slow_outcome = checker_slow.check_message(slow, NOW)
    assert tuple(fast_outcome) == slow_outcome
    faulty = {fault.index for fault in slow_outcome[0]}
    kept = [reading for index, reading in enumerate(slow.readings) if index not in faulty]
    assert list(accepted_readings(raw, fast_value).readings) == kept


CONFIGS = {
    "defaults": (ChecksConfig(), TransformsConfig()),
    "ranges": (
        ChecksConfig(ranges={"temperature": {"min": -40, "max": 60}}, max_tags=2),
        TransformsConfig(),
    ),
    "ns only, units kept": (
        ChecksConfig(timestamp_units="ns"),
        TransformsConfig(convert_units=False),
    ),
}


def two_checkers(config: str, registry_path: Path) -> tuple[ReadingChecker, ReadingChecker]:
    """Two checkers with the same config and registry: one for each path."""
    checks, transforms = CONFIGS[config]
    registry = load_registry(registry_path, transforms.geohash_precision)
    checkers = ReadingChecker(checks, transforms), ReadingChecker(checks, transforms)
    for checker in checkers:
        checker.use_registry(registry)
    return checkers


@pytest.fixture(scope="module")
def registry_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry") / "devices.yaml"
    path.write_text(REGISTRY, encoding="utf-8")
    return path


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(encoded, min_size=1, max_size=12), min_size=1, max_size=4))
def test_the_screened_checks_decide_and_rewrite_as_the_full_checks(
    config: str,
    registry_path: Path,
    batches: list[list[tuple[Reading, tuple[float, float] | None, list[bytes], bool]]],
) -> None:
    fast, slow = two_checkers(config, registry_path)
    # Several batches through one checker, so that cached verdicts are reused.
    for batch in batches:
        raw = b"\x08\x07" + b"".join(encode(*item) for item in batch)
        check_both(fast, slow, raw)


def test_a_batch_of_plain_readings_passes_as_sent() -> None:
    checker = ReadingChecker(ChecksConfig(), TransformsConfig())
    message = ReadingBatch(
        readings=[
            Reading(
                device_id=f"dev-{n}",
                metric="temperature",
                unit="°C",
                value=20.0 + n,
                time_unix_nano=NS,
                tags={"zone": "a"},
            )
            for n in range(50)
        ]
    )
    raw = message.SerializeToString()
    for _ in range(2):  # the second time, every template is known
        walked = walk(raw)
        assert walked is not None
        assert checker.check(walked, NOW) == ([], 50, False, None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(encoded, min_size=1, max_size=12), min_size=2, max_size=4))
def test_caches_that_start_over_mid_batch_change_nothing(
    registry_path: Path,
    batches: list[list[tuple[Reading, tuple[float, float] | None, list[bytes], bool]]],
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sluice.stages.process.checker.CACHE_LIMIT", 3)  # read at construction
        patch.setattr("sluice.stages.process.names.CACHE_LIMIT", 3)
        fast, slow = two_checkers("defaults", registry_path)
        for batch in batches:
            raw = b"\x08\x07" + b"".join(encode(*item) for item in batch)
            check_both(fast, slow, raw)


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(st.tuples(readings, locations), max_size=12), max_size=4))
def test_canonical_batches_take_the_c_path_and_decide_as_the_full_checks(
    config: str,
    registry_path: Path,
    batches: list[list[tuple[Reading, tuple[float, float] | None]]],
) -> None:
    fast, slow = two_checkers(config, registry_path)
    for batch in batches:
        raw = b"\x08\x07" + b"".join(encode(reading, at, [], False) for reading, at in batch)
        assert walk(raw) is not None
        check_both(fast, slow, raw)
