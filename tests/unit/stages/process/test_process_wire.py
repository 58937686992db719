"""The C wire walker (``sluice.core._wire``): walk, screen and assemble a ReadingBatch.

``walk`` must never accept bytes that upb refuses, and must agree with upb on everything it
accepts; it gives None for anything outside the plain encoding, but never for what
``SerializeToString()`` writes. ``Templates.screen`` proves readings fine from their value
and time alone, and ``WireBatch.assemble`` joins the screened output with the suspects'
edits. Every test here compares against upb (``ReadingBatch.FromString``) or against the
arithmetic done in Python.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from process_helpers import NOW
from wire_encoding import field, tag_entry, time_field, value_field, varint

from sluice.core._wire import Templates, WireBatch, walk
from sluice.v1.ingest_pb2 import Location, Reading, ReadingBatch

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
SOME = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))

NS = NOW - 5_000_000_000
LOWEST, HIGHEST = NOW - 10**15, NOW + 10**12
EVERYTHING = (-math.inf, math.inf)


def encode(message: Reading | ReadingBatch) -> bytes:
    """The canonical encoding, with map entries in a fixed order (so templates match)."""
    return message.SerializeToString(deterministic=True)


def same(a: Reading | ReadingBatch, b: Reading | ReadingBatch) -> bool:
    """Equal field by field, NaN included (``==`` says NaN differs from itself)."""
    return encode(a) == encode(b)


def template_of(reading: Reading) -> bytes:
    """The template of a canonically encoded reading: without time and value, plus the
    "timed" marker when the time is set."""
    shape = Reading()
    shape.CopyFrom(reading)
    shape.ClearField("time_unix_nano")
    shape.ClearField("value")
    return encode(shape) + (b"\x10\x01" if reading.time_unix_nano else b"")


def walked(message: ReadingBatch) -> WireBatch:
    batch = walk(encode(message))
    assert batch is not None
    return batch


Spec = tuple[float, float, tuple[float, float, float, float] | None, int, bytes, bool]


def plan(
    low: float = -math.inf,
    high: float = math.inf,
    formula: tuple[float, float, float, float] | None = None,
    drop: int = 0,
    suffix: bytes = b"",
    stamp: bool = False,
) -> Spec:
    return (low, high, formula, drop, suffix, stamp)


def bit(*numbers: int) -> int:
    return sum(1 << n for n in numbers)


def assembled(batch: WireBatch, edits: dict[int, bytes | None] | None = None) -> ReadingBatch:
    return ReadingBatch.FromString(batch.assemble(edits or {}))


# ---------------------------------------------------------------------------------------
# Strategies

texts = st.one_of(
    st.sampled_from(["", "dev-1", "°C", "温度", "emoji 😀", "a" * 9 + "é", "x" * 200]),
    st.text(max_size=12),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
values = st.one_of(
    st.sampled_from([0.0, -0.0, 21.5, -5.0, 1e300, math.nan, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
)
times = st.one_of(
    st.sampled_from([0, NS, 1, -1, -5, 2**63 - 1, -(2**63)]),
    st.integers(-(2**63), 2**63 - 1),
)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    reading = Reading(
        device_id=draw(texts),
        metric=draw(texts),
        value=draw(values),
        time_unix_nano=draw(times),
        tags=draw(st.dictionaries(texts, texts, max_size=3)),
        unit=draw(texts),
        geohash=draw(st.sampled_from(["", "", "u33d"])),
        site=draw(texts),
    )
    location = draw(st.none() | st.tuples(finite | values, finite | values))
    if location is not None:
        reading.location.lat, reading.location.lon = location
    return reading


some_readings = st.one_of(st.just(Reading()), readings())

batches = st.builds(
    ReadingBatch,
    seq=st.one_of(st.sampled_from([0, 1, 7, 2**64 - 1]), st.integers(0, 2**64 - 1)),
    source_id=texts,
    session_id=texts,
    readings=st.lists(some_readings, max_size=6),
)

BAD_UTF8 = [b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]

# Wire oddities a Reading may carry: some upb accepts (and walk must refuse, or agree), some
# upb refuses (and walk must refuse too).
reading_oddities = st.one_of(
    st.builds(time_field, st.sampled_from([0, NS, 5])),  # a second time
    st.builds(value_field, st.sampled_from([0.0, 1.5, math.nan])),  # a second value
    st.builds(lambda d: field(1, d.encode()), st.sampled_from(["dev-2", "", "°"])),
    st.builds(lambda u: field(6, u.encode()), st.sampled_from(["°C", ""])),
    st.sampled_from(
        [
            field(2, varint(NS) + varint(NS + 7)),  # packed times
            field(4, struct.pack("<dd", 1.0, 2.0)),  # packed values
            field(15, b"future"),  # an unknown field
            field(10, b""),  # the first unknown field number
            b"\x08" + varint(3),  # field 1 as a varint
            b"\x11" + b"\x00" * 8,  # time as a fixed64
            b"\x20\x01",  # value as a varint
            b"\x0b\x0c",  # a group
            b"\x02\x00",  # field number 0
            b"\x10" + b"\xff" * 10 + b"\x01",  # an 11-byte varint
            b"\x10" + b"\xff" * 9 + b"\x01",  # a 10-byte varint (fine)
            b"\x10" + b"\xff" * 9 + b"\x02",  # a 10-byte varint with bits past 64
            b"\x10\x80\x00",  # a non-minimal varint (fine)
            b"\x0a\x80\x00",  # a non-minimal length (fine)
            b"\x21\x00\x00",  # a truncated double
            b"\x0a\x05ab",  # a truncated string
            tag_entry(b"zone", None),  # a map entry without its value (fine)
            tag_entry(b"zone", b"a"),  # a repeated map field (fine)
            field(5, b""),  # an empty map entry (fine)
            field(5, field(1, b"k") + field(1, b"j")),  # a map key twice
            field(5, field(3, b"x")),  # an unknown field in a map entry
            field(5, b"\x08\x01"),  # a map key as a varint
            field(7, b""),  # an empty location (fine, unless given twice)
            field(7, b"\x09" + struct.pack("<d", 10.0)),  # a location (lat only)
            field(7, b"\x19" + struct.pack("<d", 10.0)),  # a location field 3
            field(7, b"\x08\x01"),  # lat as a varint
            field(7, b"\x09\x00"),  # a truncated lat
            field(7, b"\x09" + b"\x00" * 8 + b"\x09" + b"\x00" * 8),  # lat twice
        ]
    ),
    st.builds(lambda s: field(1, s), st.sampled_from(BAD_UTF8)),
    st.builds(lambda s: tag_entry(s, b"v"), st.sampled_from(BAD_UTF8)),
    st.builds(lambda s: tag_entry(b"k", s), st.sampled_from(BAD_UTF8)),
    st.builds(lambda n, s: field(n, s), st.sampled_from([3, 6, 8, 9]), st.sampled_from(BAD_UTF8)),
)
batch_oddities = st.one_of(
    st.sampled_from(
        [
            b"\x08\x01",  # a seq (a second one when the batch has one)
            b"\x08" + b"\xff" * 9 + b"\x01",  # seq 2**64 - 1
            b"\x08" + b"\xff" * 10,  # an unterminated varint
            field(1, b"\x01"),  # seq length-delimited
            field(2, b"gw-2"),  # a source_id
            field(4, b"s-2"),  # a session_id
            b"\x10\x01",  # source_id as a varint
            b"\x19" + b"\x00" * 8,  # readings as a fixed64
            field(5, b""),  # an unknown field
            field(2**29 - 1, b""),  # the largest field number
            b"\x1a\x00",  # an empty reading (fine)
            b"\x1a\x7f",  # a truncated reading
            b"\x1a" + b"\xff" * 5 + b"\x0f",  # an oversized length
            b"\x00",  # field number 0
            b"\xff\xff\xff\xff\x7f",  # a tag past 32 bits
            b"\x80",  # a truncated tag
        ]
    ),
    st.builds(lambda s: field(2, s), st.sampled_from(BAD_UTF8)),
    st.builds(lambda s: field(4, s), st.sampled_from(BAD_UTF8)),
)

mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "truncate", "insert", "delete"]),
        st.integers(0, 10**6),
        st.binary(min_size=1, max_size=3),
    ),
    max_size=3,
)


def mutate(raw: bytes, changes: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(raw)
    for kind, position, some in changes:
        at = position % (len(data) + 1)
        if kind == "insert":
            data[at:at] = some
        elif not data:
            continue
        elif kind == "truncate":
            del data[at:]
        elif kind == "delete":
            del data[at : at + len(some)]
        else:
            at %= len(data)
            data[at] = data[at] ^ (some[0] or 1) if kind == "flip" else some[0]
    return bytes(data)


@st.composite
def odd_batches(draw: st.DrawFn) -> bytes:
    """A batch put together field by field, with oddities spliced in and mutations on top."""
    message = draw(batches)
    pieces: list[bytes] = []
    if message.seq:
        pieces.append(b"\x08" + varint(message.seq))
    if message.source_id:
        pieces.append(field(2, message.source_id.encode()))
    for reading in message.readings:
        payload = encode(reading)
        for odd in draw(st.lists(reading_oddities, max_size=2)):
            where = draw(st.sampled_from(["before", "after", "after", "anywhere"]))
            if where == "before":
                payload = odd + payload
            elif where == "after":
                payload += odd
            else:
                at = draw(st.integers(0, len(payload)))
                payload = payload[:at] + odd + payload[at:]
        pieces.append(field(3, payload))
    if message.session_id:
        pieces.append(field(4, message.session_id.encode()))
    for odd in draw(st.lists(batch_oddities, max_size=2)):
        pieces.insert(draw(st.integers(0, len(pieces))), odd)
    return mutate(b"".join(pieces), draw(mutations))


# Strings in an otherwise plain encoding: walk must refuse exactly what upb refuses.
utf8_pieces = st.one_of(
    st.binary(max_size=4),
    st.sampled_from(
        [
            b"abcdefgh",  # the 8-byte ASCII fast path
            b"abcdefg",
            "°".encode(),
            "€".encode(),
            "😀".encode(),
            "\U0010ffff".encode(),
            "\ud7ff".encode(),
            "\ue000".encode(),
            b"\xc2",
            b"\xc1\xbf",
            b"\xe0\x9f\xbf",  # an overlong 3-byte
            b"\xf0\x8f\xbf\xbf",  # an overlong 4-byte
            b"\xf5\x80\x80\x80",
            b"\xed\xbf\xbf",
            b"\x80",
            b"\xff",
            *BAD_UTF8,
        ]
    ),
    st.text(max_size=5).map(str.encode),
)
strings = st.lists(utf8_pieces, max_size=6).map(b"".join)


def string_in_context(where: str, s: bytes) -> bytes:
    if where == "source_id":
        return field(2, s)
    if where == "session_id":
        return field(4, s)
    if where == "tag key":
        return field(3, tag_entry(s, b"v"))
    if where == "tag value":
        return field(3, tag_entry(b"k", s))
    number = {"device_id": 1, "metric": 3, "unit": 6, "geohash": 8, "site": 9}[where]
    return field(3, field(number, s))


STRING_FIELDS = [
    "source_id",
    "session_id",
    "device_id",
    "metric",
    "unit",
    "geohash",
    "site",
    "tag key",
    "tag value",
]


# ---------------------------------------------------------------------------------------
# The differential check


def upb(raw: bytes) -> ReadingBatch | None:
    try:
        return ReadingBatch.FromString(raw)
    except DecodeError:
        return None


def check_against_upb(raw: bytes) -> WireBatch | None:
    """Walks ``raw``; when walked, upb must accept it and agree on every field."""
    batch = walk(raw)
    if batch is None:
        return None
    message = upb(raw)
    assert message is not None, f"walk accepted what upb refuses: {raw!r}"
    assert batch.raw is raw
    assert batch.seq == message.seq
    assert batch.source_id == message.source_id
    assert batch.session_id == message.session_id
    assert batch.count == len(message.readings)
    for i, reading in enumerate(message.readings):
        assert same(Reading.FromString(batch.reading(i)), reading)
    # Before a screen every reading is a suspect, kept as sent.
    assert same(assembled(batch), message)
    return batch


# ---------------------------------------------------------------------------------------
# 1. walk never accepts what upb refuses, and agrees with upb on what it accepts


@FUZZ
@given(message=batches)
def test_walk_agrees_with_upb_on_canonical_batches(message: ReadingBatch) -> None:
    raw = message.SerializeToString()
    assert check_against_upb(raw) is not None


@FUZZ
@given(raw=odd_batches())
def test_walk_never_accepts_what_upb_refuses_on_odd_encodings(raw: bytes) -> None:
    check_against_upb(raw)


@FUZZ
@given(message=batches, changes=mutations.filter(bool))
def test_walk_never_accepts_what_upb_refuses_on_mutated_batches(
    message: ReadingBatch, changes: list[tuple[str, int, bytes]]
) -> None:
    check_against_upb(mutate(message.SerializeToString(), changes))


@FUZZ
@given(raw=st.binary(max_size=64))
@example(raw=b"\x1a\x00")
@example(raw=b"\x08\x00")
def test_walk_never_accepts_what_upb_refuses_on_random_bytes(raw: bytes) -> None:
    check_against_upb(raw)


@FUZZ
@given(
    payload=st.binary(max_size=40),
    wrap=st.sampled_from(["reading", "tag entry", "location"]),
)
def test_walk_never_accepts_what_upb_refuses_on_random_nested_payloads(
    payload: bytes, wrap: str
) -> None:
    if wrap == "tag entry":
        payload = field(5, payload)
    elif wrap == "location":
        payload = field(7, payload)
    check_against_upb(field(3, payload))


@FUZZ
@given(where=st.sampled_from(STRING_FIELDS), s=strings)
def test_walk_refuses_exactly_the_strings_upb_refuses(where: str, s: bytes) -> None:
    raw = string_in_context(where, s)
    batch = check_against_upb(raw)
    assert (batch is None) == (upb(raw) is None), (where, s)


# ---------------------------------------------------------------------------------------
# 2. Canonical batches are always walked, with the templates the contract describes


@FUZZ
@given(message=batches)
def test_canonical_batches_are_walked_with_their_templates(message: ReadingBatch) -> None:
    batch = check_against_upb(encode(message))
    assert batch is not None
    _, unknown, _ = Templates(100).screen(batch, LOWEST, HIGHEST, NOW)
    assert unknown == [template_of(reading) for reading in message.readings]


@pytest.mark.parametrize(
    "message",
    [
        ReadingBatch(),
        ReadingBatch(readings=[Reading()]),
        ReadingBatch(readings=[Reading(), Reading(), Reading()]),
        ReadingBatch(seq=2**64 - 1, source_id="°", session_id="😀", readings=[Reading()]),
        ReadingBatch(
            readings=[
                Reading(
                    device_id="Gerät-1",
                    metric="température",
                    unit="°C",
                    value=math.nan,
                    time_unix_nano=-1,
                    tags={"": "", "zone": "北", "😀": "x" * 300},
                    location=Location(lat=0.0, lon=0.0),
                    geohash="u33d",
                    site="Köln",
                ),
                Reading(value=-0.0, time_unix_nano=0, location=Location()),
                Reading(value=math.inf, time_unix_nano=-(2**63)),
                Reading(value=-math.inf, time_unix_nano=2**63 - 1),
            ]
        ),
    ],
    ids=["empty", "one empty reading", "empty readings", "extremes", "odd values"],
)
def test_canonical_batches_with_odd_contents_are_walked(message: ReadingBatch) -> None:
    for raw in (message.SerializeToString(), encode(message)):
        batch = check_against_upb(raw)
        assert batch is not None
        assert batch.count == len(message.readings)


def test_an_empty_reading_has_an_empty_template() -> None:
    batch = walked(ReadingBatch(readings=[Reading(), Reading(time_unix_nano=5)]))
    assert batch.reading(0) == b""
    assert Templates(4).screen(batch, LOWEST, HIGHEST, NOW)[1] == [b"", b"\x10\x01"]


def test_a_reading_fields_out_of_order_keeps_that_order_in_its_template() -> None:
    payload = field(6, b"C") + value_field(1.0) + field(1, b"d") + time_field(NS)
    batch = check_against_upb(field(3, payload))
    assert batch is not None
    assert Templates(4).screen(batch, LOWEST, HIGHEST, NOW)[1] == [
        field(6, b"C") + field(1, b"d") + b"\x10\x01"
    ]


def test_an_explicit_zero_time_has_no_marker() -> None:
    batch = check_against_upb(field(3, field(1, b"d") + time_field(0) + value_field(0.0)))
    assert batch is not None
    assert Templates(4).screen(batch, LOWEST, HIGHEST, NOW)[1] == [field(1, b"d")]


# ---------------------------------------------------------------------------------------
# 3. Invalid UTF-8, one case at a time


@pytest.mark.parametrize("bad", BAD_UTF8, ids=["overlong", "surrogate", "above max", "truncated"])
@pytest.mark.parametrize(
    "where", ["device_id", "tag key", "tag value", "source_id", "session_id", "unit", "site"]
)
def test_invalid_utf8_is_refused_by_walk_and_upb(bad: bytes, where: str) -> None:
    raw = string_in_context(where, b"ok" + bad)
    assert upb(raw) is None
    assert walk(raw) is None
    # At the end of a longer, otherwise ASCII string (past the 8-byte fast path).
    raw = string_in_context(where, b"abcdefghijklmnop" + bad)
    assert upb(raw) is None
    assert walk(raw) is None
    # The same string with the bad bytes replaced is fine.
    raw = string_in_context(where, b"ok" + "\ufffd".encode())
    assert walk(raw) is not None


# ---------------------------------------------------------------------------------------
# 4. screen and assemble

PLAIN_READINGS = [
    Reading(device_id="dev-1", metric="temperature", unit="°C", value=21.5, time_unix_nano=NS),
    Reading(
        device_id="dev-2",
        metric="temperature",
        unit="°C",
        value=-3.0,
        time_unix_nano=NS + 1,
        tags={"zone": "a", "floor": "2"},
        location=Location(lat=52.5, lon=13.4),
    ),
    Reading(device_id="dev-1", metric="temperature", unit="°C", value=40.0, time_unix_nano=NS),
]


def known(readings: list[Reading], spec: Spec | None = None, limit: int = 100) -> Templates:
    """A table knowing the templates of ``readings``, with ``spec`` (or -50..50)."""
    templates = Templates(limit)
    for reading in readings:
        templates.add(template_of(reading), spec or plan(-50.0, 50.0))
    return templates


def test_readings_in_bounds_pass_a_plain_plan_unchanged() -> None:
    message = ReadingBatch(seq=9, source_id="gw-1", readings=PLAIN_READINGS)
    batch = walked(message)
    templates = known(PLAIN_READINGS)
    assert len(templates) == 2  # two readings share a template
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([], [], False)
    assert same(assembled(batch), message)
    # No session_id: the canonical field order, byte for byte.
    assert batch.assemble({}) == encode(message)


def test_the_assembled_batch_keeps_seq_source_and_session() -> None:
    message = ReadingBatch(seq=2**64 - 1, source_id="gw-°", session_id="s-1", readings=[])
    batch = walked(message)
    assert Templates(3).screen(batch, LOWEST, HIGHEST, NOW) == ([], [], False)
    assert same(assembled(batch), message)
    assert walk(b"").assemble({}) == b""  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "time"),
    [
        (math.nan, NS),
        (-math.nan, NS),
        (math.inf, NS),
        (-math.inf, NS),
        (50.000000001, NS),
        (-50.1, NS),
        (1e308, NS),
        (21.5, LOWEST - 1),
        (21.5, HIGHEST + 1),
        (21.5, 0),  # unset: the template differs (no marker), and is unknown
        (21.5, -(2**63)),
        (21.5, 2**63 - 1),
    ],
)
def test_values_and_times_out_of_bounds_are_suspects(value: float, time: int) -> None:
    odd = Reading(device_id="dev-1", metric="temperature", unit="°C", value=value)
    odd.time_unix_nano = time
    message = ReadingBatch(readings=[PLAIN_READINGS[0], odd, PLAIN_READINGS[2]])
    batch = walked(message)
    suspects, unknown, rewritten = known(PLAIN_READINGS).screen(batch, LOWEST, HIGHEST, NOW)
    assert suspects == [1]
    assert unknown == ([template_of(odd)] if time == 0 else [])
    assert rewritten is False
    assert same(assembled(batch), message)  # a suspect without an edit is kept as sent


def test_bounds_are_inclusive() -> None:
    edges = [
        Reading(device_id="d", value=-50.0, time_unix_nano=LOWEST),
        Reading(device_id="d", value=50.0, time_unix_nano=HIGHEST),
        Reading(device_id="d", value=-0.0, time_unix_nano=NS),
    ]
    batch = walked(ReadingBatch(readings=edges))
    assert known(edges).screen(batch, LOWEST, HIGHEST, NOW) == ([], [], False)


@SOME
@given(
    value=values,
    time=times.filter(bool),
    low=values,
    high=values,
    bounds=st.tuples(times, times),
)
def test_screen_decides_as_python_does(
    value: float, time: int, low: float, high: float, bounds: tuple[int, int]
) -> None:
    reading = Reading(device_id="d", value=value, time_unix_nano=time)
    batch = walked(ReadingBatch(readings=[reading]))
    templates = known([reading], plan(low, high))
    lowest, highest = bounds
    fine = math.isfinite(value) and low <= value <= high and lowest <= time <= highest
    suspects, unknown, rewritten = templates.screen(batch, lowest, highest, NOW)
    assert (suspects, unknown, rewritten) == ([] if fine else [0], [], False)


@SOME
@given(
    value=values,
    formula=st.tuples(values, values, values, values),
)
@example(value=212.0, formula=(-32.0, 5.0, 9.0, 0.0))
@example(value=0.1, formula=(0.2, 3.0, 7.0, 1e-17))
def test_a_formula_converts_bit_identically_to_python(
    value: float, formula: tuple[float, float, float, float]
) -> None:
    pre, num, den, post = formula
    try:
        expected = (value + pre) * num / den + post
    except ZeroDivisionError:  # C gives an infinity or NaN: not finite, a suspect
        expected = math.nan
    reading = Reading(device_id="d", unit="°F", value=value, time_unix_nano=NS)
    batch = walked(ReadingBatch(readings=[reading]))
    templates = known([reading], plan(formula=formula, drop=bit(4)))
    suspects, unknown, rewritten = templates.screen(batch, LOWEST, HIGHEST, NOW)
    if not math.isfinite(expected):
        assert (suspects, unknown, rewritten) == ([0], [], False)
        return
    assert (suspects, unknown, rewritten) == ([], [], True)
    [out] = assembled(batch).readings
    assert struct.pack("<d", out.value) == struct.pack("<d", expected)
    assert out.time_unix_nano == NS
    assert out.unit == "°F"


def test_the_bounds_apply_to_the_converted_value() -> None:
    readings = [
        Reading(device_id="d", unit="°F", value=212.0, time_unix_nano=NS),  # 100 °C
        Reading(device_id="d", unit="°F", value=213.0, time_unix_nano=NS),  # > 100 °C
    ]
    batch = walked(ReadingBatch(readings=readings))
    templates = known(
        readings, plan(-40.0, 100.0, (-32.0, 5.0, 9.0, 0.0), bit(4, 6), field(6, "°C".encode()))
    )
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([1], [], True)
    out = assembled(batch).readings
    assert same(out[0], Reading(device_id="d", unit="°C", value=100.0, time_unix_nano=NS))
    assert same(out[1], readings[1])


@pytest.mark.parametrize(
    ("drop", "suffix", "expected"),
    [
        (bit(6), encode(Reading(unit="°C")), {"unit": "°C"}),
        (bit(6), b"", {"unit": ""}),
        (bit(8), encode(Reading(geohash="u33dc0")), {"geohash": "u33dc0"}),
        (bit(9), encode(Reading(site="plant")), {"site": "plant"}),
        (bit(7), encode(Reading(location=Location(lat=1.5, lon=-2.5))), {"location": (1.5, -2.5)}),
        (
            bit(6, 8, 9),
            encode(Reading(unit="K", geohash="zz", site="depot")),
            {"unit": "K", "geohash": "zz", "site": "depot"},
        ),
        (bit(5), b"", {"tags": {}}),
        (bit(1, 3), b"", {"device_id": "", "metric": ""}),
    ],
    ids=["unit", "no unit", "geohash", "site", "location", "three", "no tags", "no names"],
)
def test_drop_and_suffix_rewrite_a_passing_reading(
    drop: int, suffix: bytes, expected: dict[str, object]
) -> None:
    reading = Reading(
        device_id="dev-1",
        metric="temperature",
        unit="°F",
        value=21.5,
        time_unix_nano=NS,
        tags={"zone": "a"},
        location=Location(lat=10.0, lon=20.0),
        geohash="old",
        site="elsewhere",
    )
    other = Reading(device_id="dev-2", value=1.0, time_unix_nano=NS)
    message = ReadingBatch(seq=3, source_id="gw", session_id="s", readings=[other, reading])
    batch = walked(message)
    templates = known([other])
    templates.add(template_of(reading), plan(drop=drop, suffix=suffix))
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([], [], True)
    want = Reading()
    want.CopyFrom(reading)
    for name, value in expected.items():
        if name == "location":
            want.location.lat, want.location.lon = value  # type: ignore[misc]
        elif name == "tags":
            want.tags.clear()
        else:
            setattr(want, name, value)
    result = assembled(batch)
    assert (result.seq, result.source_id, result.session_id) == (3, "gw", "s")
    assert same(result.readings[0], other)
    assert same(result.readings[1], want)


def test_stamp_writes_now_as_the_time() -> None:
    reading = Reading(device_id="d", metric="m", unit="°C", value=2.0)
    batch = walked(ReadingBatch(readings=[reading]))
    templates = known([reading], plan(drop=bit(2), stamp=True))
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([], [], True)
    [out] = assembled(batch).readings
    assert out.time_unix_nano == NOW
    assert (out.device_id, out.metric, out.unit, out.value) == ("d", "m", "°C", 2.0)
    # now out of bounds: the stamped time fails.
    assert templates.screen(batch, NOW + 1, HIGHEST, NOW) == ([0], [], False)
    assert templates.screen(batch, LOWEST, NOW - 1, NOW) == ([0], [], False)
    assert same(assembled(batch), ReadingBatch(readings=[reading]))


def test_stamp_with_a_formula_and_a_suffix() -> None:
    reading = Reading(device_id="d", unit="°F", value=212.0)
    batch = walked(ReadingBatch(readings=[reading]))
    spec = plan(
        -40.0, 100.0, (-32.0, 5.0, 9.0, 0.0), bit(2, 4, 6), encode(Reading(unit="°C")), True
    )
    templates = known([reading], spec)
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([], [], True)
    [out] = assembled(batch).readings
    assert same(out, Reading(device_id="d", unit="°C", value=100.0, time_unix_nano=NOW))


# Drop, formula, suffix and stamp are independent rewrites: each applies with an empty
# drop mask too.
@pytest.mark.parametrize(
    ("time", "spec", "expected"),
    [
        (0, plan(stamp=True), {"time_unix_nano": NOW}),
        (NS, plan(suffix=encode(Reading(site="s"))), {"site": "s"}),
        (NS, plan(formula=(-32.0, 5.0, 9.0, 0.0)), {"value": 100.0}),
    ],
    ids=["stamp", "suffix", "formula"],
)
def test_rewrites_apply_without_a_drop_mask(
    time: int, spec: Spec, expected: dict[str, object]
) -> None:
    reading = Reading(device_id="d", unit="°F", value=212.0, time_unix_nano=time)
    batch = walked(ReadingBatch(readings=[reading]))
    templates = Templates(4)
    templates.add(template_of(reading), spec)
    suspects, _, _ = templates.screen(batch, LOWEST, HIGHEST, NOW)
    assert suspects == []
    want = Reading()
    want.CopyFrom(reading)
    for name, value in expected.items():
        setattr(want, name, value)
    assert same(assembled(batch).readings[0], want)


def test_rewritten_counts_passing_readings_only() -> None:
    good = Reading(device_id="d", unit="°F", value=1.0, time_unix_nano=NS)
    bad = Reading(device_id="d", unit="°F", value=1e9, time_unix_nano=NS)
    templates = known([good], plan(-10.0, 10.0, drop=bit(6), suffix=field(6, b"C")))
    only_bad = walked(ReadingBatch(readings=[bad]))
    assert templates.screen(only_bad, LOWEST, HIGHEST, NOW) == ([0], [], False)
    both = walked(ReadingBatch(readings=[bad, good]))
    assert templates.screen(both, LOWEST, HIGHEST, NOW) == ([0], [], True)
    # Screened again with another table, the flag follows the latest screen.
    assert known([good]).screen(both, LOWEST, HIGHEST, NOW) == ([0], [], False)


def test_edits_drop_replace_or_keep_suspects() -> None:
    fine = [Reading(device_id="d", value=float(i), time_unix_nano=NS) for i in range(0, 10, 2)]
    message = ReadingBatch(
        seq=1,
        readings=[
            fine[0],
            Reading(device_id="d", value=1e9, time_unix_nano=NS),  # 1
            fine[1],
            Reading(device_id="d", value=math.nan, time_unix_nano=NS),  # 3
            Reading(device_id="x", value=1.0, time_unix_nano=NS),  # 4: unknown
            fine[2],
        ],
    )
    batch = walked(message)
    templates = known(fine)
    suspects, unknown, _ = templates.screen(batch, LOWEST, HIGHEST, NOW)
    assert suspects == [1, 3, 4]
    assert unknown == [template_of(message.readings[4])]
    replacement = Reading(device_id="d", value=7.0, time_unix_nano=NS)
    edits: dict[int, bytes | None] = {
        1: None,
        3: encode(replacement),
        0: None,  # not a suspect: its edit is ignored
        5: b"\xff",
        99: None,  # no such reading
    }
    result = assembled(batch, edits)
    assert result.seq == 1
    want = [fine[0], fine[1], replacement, message.readings[4], fine[2]]
    assert [encode(r) for r in result.readings] == [encode(r) for r in want]
    # An empty edit is an empty reading.
    assert assembled(batch, {1: b"", 3: None, 4: None}).readings[1] == Reading()


def test_before_a_screen_every_reading_takes_its_edit() -> None:
    message = ReadingBatch(readings=PLAIN_READINGS)
    batch = walked(message)
    edits: dict[int, bytes | None] = {0: None, 2: encode(Reading(device_id="new"))}
    result = assembled(batch, edits)
    want = [PLAIN_READINGS[1], Reading(device_id="new")]
    assert [encode(r) for r in result.readings] == [encode(r) for r in want]


def test_unknown_templates_become_known_after_add() -> None:
    readings = [
        Reading(device_id="a", value=1.0, time_unix_nano=NS),
        Reading(device_id="b", value=1.0, time_unix_nano=NS),
        Reading(device_id="a", value=2.0, time_unix_nano=NS + 5),
        Reading(device_id="a", value=2.0),
    ]
    batch = walked(ReadingBatch(readings=readings))
    templates = Templates(10)
    assert len(templates) == 0
    suspects, unknown, _ = templates.screen(batch, LOWEST, HIGHEST, NOW)
    assert suspects == [0, 1, 2, 3]
    assert unknown == [template_of(r) for r in readings]
    assert unknown[0] == unknown[2] != unknown[3]  # one entry per reading
    for template in dict.fromkeys(unknown):
        templates.add(template, plan())
    assert len(templates) == 3
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([3], [], False)  # no time
    # None: known, but always a suspect.
    templates.add(template_of(readings[1]), None)
    assert len(templates) == 3
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([1, 3], [], False)
    # A plan replaced.
    templates.add(template_of(readings[1]), plan())
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([3], [], False)
    templates.clear()
    assert len(templates) == 0
    suspects, unknown, _ = templates.screen(batch, LOWEST, HIGHEST, NOW)
    assert (suspects, unknown) == ([0, 1, 2, 3], [template_of(r) for r in readings])


def test_the_table_starts_over_past_its_limit() -> None:
    readings = [Reading(device_id=f"dev-{i}", time_unix_nano=NS) for i in range(3)]
    batch = walked(ReadingBatch(readings=readings))
    templates = Templates(2)
    templates.add(template_of(readings[0]), plan())
    templates.add(template_of(readings[1]), plan())
    assert len(templates) == 2
    assert templates.screen(batch, LOWEST, HIGHEST, NOW)[:2] == ([2], [template_of(readings[2])])
    templates.add(template_of(readings[2]), plan())
    assert len(templates) == 1
    suspects, unknown, _ = templates.screen(batch, LOWEST, HIGHEST, NOW)
    assert suspects == [0, 1]
    assert unknown == [template_of(readings[0]), template_of(readings[1])]
    one = Templates(1)
    for reading in readings:
        one.add(template_of(reading), plan())
        assert len(one) == 1
    assert one.screen(batch, LOWEST, HIGHEST, NOW)[0] == [0, 1]


@SOME
@given(message=batches, picks=st.lists(st.booleans(), max_size=6))
def test_screen_then_assemble_with_plain_plans_gives_the_batch_back(
    message: ReadingBatch, picks: list[bool]
) -> None:
    raw = encode(message)
    batch = walk(raw)
    assert batch is not None
    templates = Templates(64)
    chosen = {template_of(r) for r, pick in zip(message.readings, picks, strict=False) if pick}
    for template in chosen:
        templates.add(template, plan())
    suspects, unknown, rewritten = templates.screen(batch, -(2**63), 2**63 - 1, NOW)
    assert rewritten is False
    templates_of = [template_of(r) for r in message.readings]
    assert unknown == [t for t in templates_of if t not in chosen]
    assert suspects == [
        i
        for i, r in enumerate(message.readings)
        if templates_of[i] not in chosen or not math.isfinite(r.value)
    ]
    assert same(assembled(batch), message)
    dropped = assembled(batch, dict.fromkeys(suspects))
    assert [encode(r) for r in dropped.readings] == [
        encode(r) for i, r in enumerate(message.readings) if i not in suspects
    ]


# ---------------------------------------------------------------------------------------
# 5. Robustness


def test_a_batch_of_thousands_of_readings() -> None:
    readings = [
        Reading(
            device_id=f"dev-{i % 50}",
            metric="m",
            unit="°C",
            value=float(i % 100),
            time_unix_nano=NS + i,
            tags={"zone": str(i % 3)},
        )
        for i in range(20_000)
    ]
    message = ReadingBatch(seq=5, source_id="gw", readings=readings)
    batch = walked(message)
    assert batch.count == 20_000
    templates = Templates(1000)
    suspects, unknown, _ = templates.screen(batch, LOWEST, HIGHEST, NOW)
    assert len(suspects) == len(unknown) == 20_000
    for template in set(unknown):
        templates.add(template, plan(0.0, 89.0))
    assert len(templates) == 150
    suspects, unknown, rewritten = templates.screen(batch, LOWEST, HIGHEST, NOW)
    assert suspects == [i for i in range(20_000) if i % 100 >= 90]
    assert (unknown, rewritten) == ([], False)
    assert batch.assemble({}) == encode(message)
    result = assembled(batch, dict.fromkeys(suspects))
    assert len(result.readings) == 18_000
    # Rewrite every passing reading.
    for template in set(template_of(r) for r in readings):
        templates.add(template, plan(drop=bit(6), suffix=field(6, b"K")))
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([], [], True)
    assert {r.unit for r in assembled(batch).readings} == {"K"}


def test_many_empty_readings() -> None:
    raw = b"\x1a\x00" * 50_000
    batch = check_against_upb(raw)
    assert batch is not None
    assert batch.count == 50_000
    templates = Templates(4)
    templates.add(b"", plan())
    assert templates.screen(batch, -1, 1, 0) == ([], [], False)  # time 0 is in bounds
    assert batch.assemble({}) == raw


def test_walk_of_nothing_is_an_empty_batch() -> None:
    batch = walk(b"")
    assert batch is not None
    assert (batch.seq, batch.source_id, batch.session_id, batch.count) == (0, "", "", 0)
    assert batch.raw == b""
    assert Templates(1).screen(batch, 0, 0, 0) == ([], [], False)
    assert batch.assemble({}) == b""


def test_reading_indices_are_checked() -> None:
    batch = walked(ReadingBatch(readings=[Reading(device_id="d")]))
    assert batch.reading(0) == field(1, b"d")
    for index in (1, -1, 2**40):
        with pytest.raises(IndexError):
            batch.reading(index)
    with pytest.raises(OverflowError):
        batch.reading(2**70)
    for wrong in ("0", 0.0, None, b"\x00"):
        with pytest.raises(TypeError):
            batch.reading(wrong)  # type: ignore[arg-type]


def test_wrong_argument_types_raise_type_errors() -> None:
    batch = walked(ReadingBatch(readings=[Reading(device_id="d", time_unix_nano=NS)]))
    for wrong in ("text", bytearray(b""), memoryview(b""), None, 1):
        with pytest.raises(TypeError):
            walk(wrong)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        WireBatch()
    for wrong_edits in ([], None, [(0, None)]):
        with pytest.raises(TypeError):
            batch.assemble(wrong_edits)  # type: ignore[arg-type]
    for wrong_edit in ("text", 1, bytearray(b"")):
        with pytest.raises(TypeError):
            batch.assemble({0: wrong_edit})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        Templates("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Templates()  # type: ignore[call-arg]
    for limit in (0, -1, 2**24 + 1):
        with pytest.raises(ValueError, match="limit"):
            Templates(limit)
    templates = Templates(4)
    wrong_adds: list[tuple[object, ...]] = [
        ("text", None),
        (None, None),
        (b"", (1.0, 2.0)),
        (b"", ("low", 2.0, None, 0, b"", False)),
        (b"", (1.0, 2.0, (1.0, 2.0), 0, b"", False)),
        (b"", (1.0, 2.0, ("a", 1.0, 1.0, 1.0), 0, b"", False)),
        (b"", (1.0, 2.0, None, "0", b"", False)),
        (b"", (1.0, 2.0, None, 0, "suffix", False)),
        (b"",),
    ]
    for args in wrong_adds:
        with pytest.raises(TypeError):
            templates.add(*args)  # type: ignore[arg-type]
    assert len(templates) == 0
    wrong_screens: list[tuple[object, ...]] = [
        (b"raw", 0, 1, 2),
        (None, 0, 1, 2),
        (batch, "0", 1, 2),
        (batch, 0, 1.5, 2),
        (batch, 0, 1),
    ]
    for args in wrong_screens:
        with pytest.raises(TypeError):
            templates.screen(*args)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        templates.screen(batch, 0, 2**70, 0)
    # Still usable after all that.
    templates.add(template_of(batch_reading(batch)), plan())
    assert templates.screen(batch, LOWEST, HIGHEST, NOW) == ([], [], False)


def batch_reading(batch: WireBatch) -> Reading:
    return Reading.FromString(batch.reading(0))


def test_a_plan_that_is_not_a_tuple_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Templates(4).add(b"", [1.0, 2.0, None, 0, b"", False])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call", ["t.clear()", "t.add(b'', None)", "len(t)", "t.screen(walk(b'\\x1a\\x00'), 0, 0, 0)"]
)
def test_templates_not_initialised_do_not_crash(call: str) -> None:
    code = (
        "from sluice.core._wire import Templates, walk\n"
        "t = Templates.__new__(Templates)\n"
        "try:\n"
        f"    {call}\n"
        "except Exception:\n"
        "    pass\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_template_added_twice_with_the_table_full_starts_over() -> None:
    templates = Templates(2)
    templates.add(b"a", plan())
    templates.add(b"b", plan())
    templates.add(b"a", plan())  # the limit is reached: starts over even for a known one
    assert len(templates) == 1
