"""JSON log lines: fields, trace ids inside a span, secrets masked, idempotent set-up."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

import pytest
from opentelemetry.sdk.trace import TracerProvider

from sluice.core.config.ops import LoggingConfig
from sluice.ops.logs import HANDLER_NAME, MASK, configure_logging

Spawn = Callable[..., subprocess.Popen[str]]
SECRET = "hunter2-s3cr3t"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


@pytest.fixture
def stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(LoggingConfig(level="INFO", format="json"), stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_json_with_the_standard_and_extra_fields(stream: io.StringIO) -> None:
    logging.getLogger("sluice.test").info(
        "batch %s accepted", 7, extra={"tenant": "acme", "session_id": "s-1", "seq": 7}
    )
    [event] = lines(stream)
    assert event["level"] == "INFO"
    assert event["logger"] == "sluice.test"
    assert event["message"] == "batch 7 accepted"
    assert (event["tenant"], event["session_id"], event["seq"]) == ("acme", "s-1", 7)
    assert event["time"].endswith("Z")
    assert datetime.fromisoformat(event["time"]).utcoffset() is not None
    assert "trace_id" not in event


def test_a_line_inside_a_span_carries_its_ids(stream: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("batch") as span:
        logging.getLogger("sluice.test").warning("inside")
    context = span.get_span_context()
    [event] = lines(stream)
    assert event["trace_id"] == format(context.trace_id, "032x")
    assert event["span_id"] == format(context.span_id, "016x")


def test_level_filters(stream: io.StringIO) -> None:
    logging.getLogger("sluice.test").debug("hidden")
    logging.getLogger("sluice.test").error("shown")
    assert [event["message"] for event in lines(stream)] == ["shown"]


def test_configuring_twice_keeps_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(LoggingConfig(), first)
    configure_logging(LoggingConfig(), second)
    logging.getLogger("sluice.test").info("once")
    named = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    assert len(named) == 1
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1


def log_with_message_args(log: logging.Logger) -> None:
    log.info("connecting with password=%s", SECRET)


def log_with_secret_extra(log: logging.Logger) -> None:
    log.info("config", extra={"token": SECRET})


def log_with_nested_dict(log: logging.Logger) -> None:
    log.info("config", extra={"kafka": {"client": {"sasl.password": SECRET, "acks": "all"}}})


def log_with_dict_in_message(log: logging.Logger) -> None:
    log.info("client settings %s", {"sasl.password": SECRET})


def log_with_dict_message(log: logging.Logger) -> None:
    log.info({"event": "auth", "authorization": f"Bearer {SECRET}"})


def log_with_bearer_header(log: logging.Logger) -> None:
    log.info("header Authorization: Bearer %s", SECRET)


def log_with_list_of_dicts(log: logging.Logger) -> None:
    log.info("tenants", extra={"tenants": [{"name": "a", "secret": SECRET}]})


def log_with_exception(log: logging.Logger) -> None:
    try:
        raise ValueError(f"bad api_key={SECRET}")
    except ValueError:
        log.exception("failed")


@pytest.mark.parametrize(
    "emit",
    [
        log_with_message_args,
        log_with_secret_extra,
        log_with_nested_dict,
        log_with_dict_in_message,
        log_with_dict_message,
        log_with_bearer_header,
        log_with_list_of_dicts,
        log_with_exception,
    ],
)
def test_secrets_are_masked(stream: io.StringIO, emit: Callable[[logging.Logger], None]) -> None:
    emit(logging.getLogger("sluice.test"))
    text = stream.getvalue()
    assert SECRET not in text
    assert MASK in text
    json.loads(text)


def test_text_that_only_looks_like_a_secret_is_kept(stream: io.StringIO) -> None:
    logging.getLogger("sluice.test").info("bucket has tokens=5", extra={"acks": "all"})
    [event] = lines(stream)
    assert event["message"] == "bucket has tokens=5"
    assert event["acks"] == "all"


def test_text_format_is_for_humans() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="text"), stream)
    logging.getLogger("sluice.test").info("hello password=%s", SECRET, extra={"tenant": "acme"})
    line = stream.getvalue().strip()
    assert " INFO sluice.test: hello password=*** tenant=acme" in line
    assert SECRET not in line


@pytest.mark.parametrize("format_", ["json", "text"])
def test_uvicorns_coloured_copy_of_the_message_is_left_out(
    format_: Literal["json", "text"],
) -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format=format_), stream)
    started = "Started server process [\x1b[36m%d\x1b[0m]"
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 7, extra={"color_message": started}
    )
    line = stream.getvalue().strip()
    assert "Started server process [7]" in line
    assert "color_message" not in line
    assert "[36m" not in line


LOG_TO_STDERR = """
import logging
from sluice.core.config.ops import LoggingConfig
from sluice.ops.logs import configure_logging
configure_logging(LoggingConfig())
logging.getLogger("sluice.child").info("started", extra={"worker": 3})
"""


def test_logs_go_to_stderr_by_default(spawn: Spawn) -> None:
    process = spawn(LOG_TO_STDERR, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert stdout == ""
    [event] = [json.loads(line) for line in stderr.splitlines()]
    assert (event["logger"], event["message"], event["worker"]) == ("sluice.child", "started", 3)
