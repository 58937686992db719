"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` environment variables.

- ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` and
  ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` act through the SDK's own defaults.
- ``OTEL_TRACES_EXPORTER`` is a comma-separated list of ``otlp`` (gRPC), ``console`` and
  ``none``. Unset, it means ``otlp`` when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, and ``none`` otherwise. Without an exporter
  spans are still created, so trace context still reaches the Kafka headers; unless
  ``OTEL_TRACES_SAMPLER`` says otherwise they are then not recorded (sampler
  ``parentbased_always_off``), since nothing would read them: a recorded span costs ~3x.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

TRACES_EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
TRACES_SAMPLER_ENV = "OTEL_TRACES_SAMPLER"
SDK_DISABLED_ENV = "OTEL_SDK_DISABLED"
OTLP_ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
KNOWN_EXPORTERS = ("otlp", "console", "none")

_provider: TracerProvider | None = None
_shut_down = False
_unread = False
_ids = RandomIdGenerator()


def configure_tracing(service_name: str = "sluice") -> None:
    """Install the SDK tracer provider with the exporters the environment asks for.

    ``OTEL_SERVICE_NAME`` wins over ``service_name``. A second call does nothing. An unknown
    ``OTEL_TRACES_EXPORTER`` raises ``ValueError`` naming the variable.
    """
    global _provider, _unread
    if _provider is not None:
        return
    exporter_names(os.environ)  # an unknown exporter is a start-up error even when disabled
    disabled = os.environ.get(SDK_DISABLED_ENV, "").strip().lower() == "true"
    exporters = [] if disabled else exporters_from_env(os.environ)
    resource = Resource.create({SERVICE_NAME: service_name}).merge(OTELResourceDetector().detect())
    unread = not exporters and not os.environ.get(TRACES_SAMPLER_ENV, "").strip()
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(ALWAYS_OFF) if unread else None
    )
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    _unread = unread


def spans_unread() -> bool:
    """True when nothing reads spans (no exporter, no sampler asked for): a span per batch
    would then only restate its stream's trace context."""
    return _unread


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters ``environ`` selects, from ``KNOWN_EXPORTERS`` minus ``none``."""
    raw = environ.get(TRACES_EXPORTER_ENV, "").strip()
    if not raw:
        return ["otlp"] if any(environ.get(name) for name in OTLP_ENDPOINT_ENVS) else []
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in KNOWN_EXPORTERS]
    if unknown:
        raise ValueError(
            f"{TRACES_EXPORTER_ENV}: unknown exporter {unknown[0]!r}; "
            f"expected a comma-separated list of {', '.join(KNOWN_EXPORTERS)}"
        )
    if "none" in names:
        return []
    return list(dict.fromkeys(names))


def exporters_from_env(environ: Mapping[str, str]) -> list[SpanExporter]:
    """A span exporter for each name ``exporter_names(environ)`` returns."""
    exporters: list[SpanExporter] = []
    for name in exporter_names(environ):
        if name == "otlp":
            # Imported here: it pulls in a gRPC client that untraced processes never need.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        else:
            exporters.append(ConsoleSpanExporter())
    return exporters


def server_interceptors() -> list[Any]:
    """The grpc.aio server interceptors that give every RPC a server span; none when nothing
    reads spans (the interceptor costs a generator step per message)."""
    if _unread:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def call_traceparent(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    """The trace context one call's records carry: its server span's; without one (nothing
    reads spans), the caller's ``traceparent``; failing that, a new unsampled trace."""
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        carrier = {key: value for key, value in metadata if isinstance(value, str)}
        span = trace.get_current_span(propagate.extract(carrier))
    return traceparent_of(span) or new_traceparent()


def new_traceparent() -> str:
    """A ``traceparent`` that starts a new, unsampled trace."""
    trace_id, span_id = _ids.generate_trace_id(), _ids.generate_span_id()
    return f"00-{trace_id:032x}-{span_id:016x}-00"


def traceparent_of(span: trace.Span) -> str:
    """The W3C ``traceparent`` of ``span``, or ``""`` when its context is invalid."""
    context = span.get_span_context()
    if not context.is_valid:
        return ""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def shutdown_tracing() -> None:
    """Export the spans still buffered and stop the exporters. Safe twice and unconfigured."""
    global _shut_down
    if _provider is not None and not _shut_down:
        _shut_down = True
        _provider.shutdown()
