"""Tracing: traceparent format, exporter choice from OTEL_* variables, a traced gRPC server."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sluice.ops.tracing import (
    exporter_names,
    exporters_from_env,
    server_interceptors,
    traceparent_of,
)

Spawn = Callable[..., subprocess.Popen[str]]
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@pytest.mark.parametrize(("sampler", "sampled"), [(ALWAYS_ON, True), (ALWAYS_OFF, False)])
def test_traceparent_of_a_span(sampler: Sampler, sampled: bool) -> None:
    with TracerProvider(sampler=sampler).get_tracer("test").start_as_current_span("s") as span:
        header = traceparent_of(span)
    context = span.get_span_context()
    assert TRACEPARENT.match(header)
    assert header.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert bool(int(header[-2:], 16) & 0x01) is sampled


def test_traceparent_is_what_the_w3c_propagator_writes() -> None:
    carrier: dict[str, str] = {}
    with TracerProvider().get_tracer("test").start_as_current_span("s") as span:
        header = traceparent_of(span)
        TraceContextTextMapPropagator().inject(carrier)
    assert header == carrier["traceparent"]


def test_traceparent_of_an_invalid_span_is_empty() -> None:
    assert traceparent_of(trace.INVALID_SPAN) == ""


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": " OTLP , console,otlp"}, ["otlp", "console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317"}, ["otlp"]),
        (
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317"},
            [],
        ),
        (
            {"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317"},
            ["console"],
        ),
    ],
)
def test_exporter_names_follow_the_environment(
    environ: dict[str, str], expected: list[str]
) -> None:
    assert exporter_names(environ) == expected


def test_an_unknown_exporter_names_the_variable() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'"):
        exporter_names({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_exporters_are_built_for_the_names() -> None:
    exporters = exporters_from_env({"OTEL_TRACES_EXPORTER": "otlp,console"})
    try:
        assert [type(e) for e in exporters] == [OTLPSpanExporter, ConsoleSpanExporter]
    finally:
        for exporter in exporters:
            exporter.shutdown()


def test_server_interceptors_are_grpc_aio_interceptors() -> None:
    interceptors = server_interceptors()
    assert len(interceptors) == 1
    assert isinstance(interceptors[0], grpc.aio.ServerInterceptor)


# Configures tracing from the environment, serves gRPC health with the interceptors, calls it
# once inside a client span, and prints that span's traceparent on stderr.
TRACED_SERVER = """
import asyncio, sys
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import trace
from sluice.ops.tracing import configure_tracing, server_interceptors, shutdown_tracing
from sluice.ops.tracing import traceparent_of

async def main():
    configure_tracing("sluice-test")
    configure_tracing("ignored: the second call does nothing")
    server = grpc.aio.server(interceptors=server_interceptors())
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    with trace.get_tracer("test").start_as_current_span("client") as span:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        print("traceparent=" + traceparent_of(span), file=sys.stderr)
    await server.stop(None)

asyncio.run(main())
shutdown_tracing()
shutdown_tracing()
"""


def run_traced_server(spawn: Spawn, **otel: str) -> tuple[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    process = spawn(TRACED_SERVER, env={**env, **otel}, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    [traceparent] = [
        line.removeprefix("traceparent=")
        for line in stderr.splitlines()
        if line.startswith("traceparent=")
    ]
    return stdout, traceparent


def exported_spans(console_output: str) -> list[dict[str, object]]:
    """The spans ConsoleSpanExporter printed: pretty JSON objects one after another."""
    decoder, spans, position = json.JSONDecoder(), [], 0
    text = console_output.strip()
    while position < len(text):
        span, position = decoder.raw_decode(text, position)
        spans.append(span)
        while position < len(text) and text[position].isspace():
            position += 1
    return spans


def test_console_exporter_gets_the_grpc_server_span(spawn: Spawn) -> None:
    stdout, traceparent = run_traced_server(
        spawn, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="sluice-from-env"
    )
    spans = exported_spans(stdout)
    names = {span["name"] for span in spans}
    assert "/grpc.health.v1.Health/Check" in names
    assert "client" in names
    assert all(
        span["resource"]["attributes"]["service.name"] == "sluice-from-env"  # type: ignore[index]
        for span in spans
    )
    assert TRACEPARENT.match(traceparent)


def test_without_an_exporter_spans_still_carry_context(spawn: Spawn) -> None:
    stdout, traceparent = run_traced_server(spawn)
    assert stdout == ""
    assert TRACEPARENT.match(traceparent)


@pytest.mark.parametrize(
    ("otel", "sampled"),
    [
        ({}, False),
        ({"OTEL_TRACES_SAMPLER": "always_on"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ],
)
def test_spans_are_recorded_only_when_something_reads_them(
    spawn: Spawn, otel: dict[str, str], sampled: bool
) -> None:
    _, traceparent = run_traced_server(spawn, **otel)
    assert bool(int(traceparent[-2:], 16) & 1) is sampled  # the W3C "sampled" flag


def test_sdk_disabled_gives_no_trace_context(spawn: Spawn) -> None:
    stdout, traceparent = run_traced_server(
        spawn, OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="console"
    )
    assert stdout == ""
    assert traceparent == ""
