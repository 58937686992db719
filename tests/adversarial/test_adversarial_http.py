"""Hypothesis-generated requests to ``POST /v1/ingest`` on a real server: every answer is a
row of the HTTP status table with its JSON body, never a 500, and the server stays up."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.core.netutil import free_port
from tests.adversarial.campaign import CALL_TIMEOUT_S, FUZZ, OUTCOMES, count
from tests.support.json_values import any_json
from tests.support.servers import SluiceServer

MAX_BODY_BYTES = 64 * 1024
MAX_READINGS = 25
ERRORS = {400: "INVALID_BODY", 413: "BODY_TOO_LARGE", 415: "UNSUPPORTED_ENCODING"}
"""Refusals before the body becomes a batch, and their error codes."""
ACK_STATUSES = {200: {"ACK_STATUS_OK", "ACK_STATUS_PARTIAL"}, 422: {"ACK_STATUS_REJECTED"}}
"""Answers with an Ack, by HTTP status (413 BATCH_TOO_LARGE and 503 are checked apart)."""

ANY_JSON = any_json()
VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    # NaN and Infinity are no JSON, but some encoders write them.
    st.floats(allow_nan=True, allow_infinity=True),
)
TIMESTAMPS = st.one_of(
    st.floats(min_value=1.7e9, max_value=1.9e9),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.sampled_from(["2026-12-07T10:00:00Z", "2026-12-07T10:00:00+01:00", "2026-13-01", "now"]),
)


def either(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right shape, sometimes any JSON at all."""
    return st.one_of(plausible, plausible, ANY_JSON)


def reading(shape: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A reading whose fields ``shape`` makes from their plausible values."""
    return st.fixed_dictionaries(
        {
            "device_id": shape(
                st.one_of(st.sampled_from(["dev-1", "d 2", ""]), st.text(max_size=90))
            ),
            "metric": shape(st.sampled_from(["temperature", "humidity", "", "x" * 200])),
            "value": shape(VALUES),
        },
        optional={
            "timestamp": shape(TIMESTAMPS),
            "unit": shape(st.sampled_from(["°C", "kPa", "parsecs", ""])),
            "tags": shape(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=6)),
            "location": shape(
                st.fixed_dictionaries(
                    {"lat": st.floats(allow_nan=True), "lon": st.floats(allow_nan=True)}
                )
            ),
        },
    )


GOOD_READING = reading(lambda plausible: plausible)
"""Fields of the right types with any values: what the pipeline's checks must sort out."""
WILD_READING = reading(either).flatmap(
    lambda fields: st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=2).map(
        lambda extra: {**extra, **fields}
    )
)
"""Any field of any type, and fields a reading does not have."""
GOOD_BATCHES = st.fixed_dictionaries(
    {"readings": st.lists(GOOD_READING, max_size=MAX_READINGS + 5)},
    optional={"source_id": st.text(max_size=160)},
)
BODIES = st.one_of(
    GOOD_BATCHES,
    GOOD_BATCHES,
    GOOD_BATCHES,
    st.fixed_dictionaries(
        {"readings": st.lists(st.one_of(GOOD_READING, WILD_READING), max_size=8)},
        optional={"source_id": either(st.text(max_size=160))},
    ),
    st.fixed_dictionaries(
        {"readings": ANY_JSON}, optional={"source_id": ANY_JSON, "extra": ANY_JSON}
    ),
    ANY_JSON,
)
ENCODINGS = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.sampled_from(["identity", "gzip", "deflate", "br", "gzip, gzip", "GZIP"]),
)
KEYS = st.one_of(
    st.none(),
    st.none(),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
    # Spaces only inside: HTTP clients refuse a header value that starts or ends with one.
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=130).map(str.strip),
)


def encoded(body: bytes, coding: str | None, honest: bool) -> bytes:
    """``body`` in ``coding`` when ``honest``; as it is otherwise (a lying header)."""
    if not honest or coding is None:
        return body
    if coding.lower() == "gzip":
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    return body


@pytest.fixture(scope="module")
def url(tansu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    config = {
        "kafka": {"bootstrap_servers": tansu.bootstrap},
        "http": {"enabled": True, "listen": listen, "max_body_bytes": MAX_BODY_BYTES},
        "checks": {"max_readings_per_batch": MAX_READINGS},
    }
    with SluiceServer(config, tmp_path_factory.mktemp("http-fuzz")):
        yield f"http://{listen}/v1/ingest"


def post(url: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
    response = httpx.post(url, content=content, headers=headers, timeout=CALL_TIMEOUT_S)
    OUTCOMES[f"HTTP {response.status_code}"] += 1
    return response


def readings_sent(body: Any) -> int | None:
    """How many readings ``body`` holds if the server can take it as a batch, else None."""
    if isinstance(body, dict) and isinstance(body.get("readings"), list):
        return len(body["readings"])
    return None


def check_answer(response: httpx.Response, body: Any) -> None:
    """``response`` is a row of the HTTP status table, with its JSON body."""
    code = response.status_code
    answer = response.json()
    assert isinstance(answer, dict), answer
    if code in ERRORS and "error" in answer:
        assert answer["error"] == ERRORS[code], answer
        assert answer["message"], answer
        return
    # Otherwise the answer is an Ack, every field present.
    assert {"seq", "status", "accepted", "rejections", "retry_after_ms", "reason"} <= set(answer)
    status = answer["status"]
    if code == 503:
        assert status == "ACK_STATUS_UNAVAILABLE", answer
        assert int(response.headers["Retry-After"]) >= 1
        return
    if code == 413:
        assert (status, answer["reason"]) == ("ACK_STATUS_REJECTED", "BATCH_TOO_LARGE"), answer
        return
    assert code in ACK_STATUSES, (code, answer)
    assert status in ACK_STATUSES[code], (code, answer)
    sent = readings_sent(body)
    assert sent is not None, (code, answer)
    indices = [rejection["index"] for rejection in answer["rejections"]]
    assert len(set(indices)) == len(indices), answer
    assert all(0 <= i < sent for i in indices), answer
    if status == "ACK_STATUS_REJECTED":
        assert answer["accepted"] == 0, answer
    else:
        assert answer["accepted"] + len(indices) == sent, answer


@settings(FUZZ, max_examples=200)
@given(body=BODIES, coding=ENCODINGS, honest=st.booleans(), key=KEYS)
def test_generated_json_bodies(
    url: str, body: Any, coding: str | None, honest: bool, key: str | None
) -> None:
    count("hypothesis: HTTP bodies")
    raw = json.dumps(body, allow_nan=True).encode()
    headers = {"Content-Type": "application/json"}
    if coding is not None:
        headers["Content-Encoding"] = coding
    if key is not None:
        # Unique per example, so no answer comes from another example's key.
        headers["Idempotency-Key"] = f"{key}{uuid.uuid4().hex[:8]}"
    response = post(url, encoded(raw, coding, honest), headers)
    assert response.status_code != 500, response.text
    check_answer(response, body)


@settings(FUZZ, max_examples=200)
@given(
    content=st.one_of(
        st.binary(max_size=512),
        st.binary(max_size=64).map(lambda noise: b'{"readings": [' + noise + b"]}"),
        st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    ),
    coding=ENCODINGS,
)
def test_generated_bytes(url: str, content: bytes, coding: str | None) -> None:
    count("hypothesis: HTTP bytes")
    headers = {} if coding is None else {"Content-Encoding": coding}
    response = post(url, content, headers)
    assert response.status_code != 500, response.text
    try:
        # Only a body sent as is can be a batch: random bytes are no gzip or deflate stream.
        body = json.loads(content) if coding in (None, "identity") else None
    except ValueError:
        body = None
    check_answer(response, body)


def test_the_server_still_answers(url: str) -> None:
    body = {"readings": [{"device_id": "dev-1", "metric": "temperature", "value": 1.5}]}
    response = httpx.post(url, json=body, timeout=CALL_TIMEOUT_S)
    assert (response.status_code, response.json()["accepted"]) == (200, 1)
