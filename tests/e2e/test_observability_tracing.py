"""One trace from the gateway through Sluice into a Kafka consumer, collected by rotel.

rotel (PyPI ``rotel``, a real OTLP collector) receives spans over OTLP/gRPC from three
processes' worth of tracers: the gateway (the SDK client, instrumented with
opentelemetry-instrumentation-grpc), ``sluice serve`` (configured by ``OTEL_*`` variables
only) and a consumer that continues the trace from the record's ``traceparent`` header.
rotel forwards everything over OTLP to a small collector in this test, which keeps it.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sluice.core.netutil import free_port
from sluice.delivery.kafka.topics import create_topics
from sluice.embedded.broker import TansuBroker, accepts_tcp
from sluice.v1.ingest_pb2 import AckStatus, ReadingBatch
from sluice_client import IngestClient
from tests.support.brokers import consume_records, headers_of
from tests.support.ingest import reading
from tests.support.processes import ManagedProcess
from tests.support.servers import SluiceServer

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 10.0
SPANS_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class CollectedSpan:
    """A span as rotel forwarded it, with the service that sent it."""

    service: str
    span: Span


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver on 127.0.0.1 that keeps every span it is sent."""

    def __init__(self) -> None:
        self._spans: list[CollectedSpan] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == SERVICE_NAME
                ),
                "",
            )
            with self._lock:
                self._spans += [
                    CollectedSpan(service, span)
                    for scope_spans in resource_spans.scope_spans
                    for span in scope_spans.spans
                ]
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[CollectedSpan]:
        with self._lock:
            return list(self._spans)

    def __enter__(self) -> Collector:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop(grace=None)


class Rotel:
    """rotel's agent in the foreground: OTLP in on ``grpc_port``, OTLP out to ``forward_to``."""

    def __init__(self, workdir: Path, forward_to: str) -> None:
        self.grpc_port = free_port()
        binary = importlib.resources.files("rotel").joinpath("rotel-agent")
        command = [
            str(binary),
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{self.grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{free_port()}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            forward_to,
            "--otlp-exporter-compression",
            "none",
            "--batch-timeout",
            "50ms",
            "--pid-file",
            str(workdir / "rotel.pid"),
            "--log-file",
            str(workdir / "rotel-agent.log"),
        ]
        self.process = ManagedProcess(command, workdir / "rotel.log")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def __enter__(self) -> Rotel:
        self.process.start(lambda: accepts_tcp(self.grpc_port), START_TIMEOUT_S)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.stop()


def tracer_provider(service: str, endpoint: str) -> TracerProvider:
    """A provider that exports each span to ``endpoint`` as it ends."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


@pytest.fixture
def collected(tansu: TansuBroker, tmp_path: Path) -> Iterator[tuple[Rotel, Collector]]:
    with Collector() as collector, Rotel(tmp_path, f"http://127.0.0.1:{collector.port}") as rotel:
        yield rotel, collector


def upload_traced(target: str, provider: TracerProvider) -> None:
    """The gateway: one traced upload, a batch on the stream and one by Push, via the SDK."""
    instrumentor = GrpcAioInstrumentorClient()
    instrumentor.instrument(tracer_provider=provider)
    try:

        async def upload() -> None:
            with provider.get_tracer("gateway").start_as_current_span("gateway.upload"):
                async with asyncio.timeout(30):
                    async with IngestClient(target, source_id="gw-traced") as client:
                        await client.send_many([reading("dev-traced", value=v) for v in (1, 2)])
                        await client.flush()
                        ack = await client.push(ReadingBatch(readings=[reading("dev-pushed")]))
                        assert ack.status == AckStatus.ACK_STATUS_OK

        asyncio.run(upload())
    finally:
        instrumentor.uninstrument()


def wait_for_spans(collector: Collector, expected: int) -> list[CollectedSpan]:
    """The spans collected once ``expected`` have arrived (and a moment for any extra)."""
    deadline = time.monotonic() + SPANS_TIMEOUT_S
    while time.monotonic() < deadline:
        if len(collector.spans()) >= expected:
            time.sleep(0.3)
            return collector.spans()
        time.sleep(0.1)
    seen = [(span.service, span.span.name) for span in collector.spans()]
    raise AssertionError(f"{len(seen)} of {expected} spans arrived within the timeout: {seen}")


def named(spans: list[CollectedSpan], service: str, name: str) -> list[Span]:
    return [s.span for s in spans if s.service == service and s.span.name == name]


def child_of(parent: Span, candidates: list[Span]) -> Span:
    children = [span for span in candidates if span.parent_span_id == parent.span_id]
    assert len(children) == 1, f"{len(children)} children of {parent.name}"
    return children[0]


def test_one_trace_links_gateway_server_batch_and_consumer(
    tansu: TansuBroker, tmp_path: Path, collected: tuple[Rotel, Collector]
) -> None:
    rotel, collector = collected
    topic = f"traced-{uuid.uuid4().hex[:8]}"
    create_topics(tansu.bootstrap, [topic])
    config = {"kafka": {"bootstrap_servers": tansu.bootstrap, "topic": topic}}
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.endpoint,
        "OTEL_SERVICE_NAME": "sluice",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with SluiceServer(config, tmp_path, env=env) as server:
        gateway = tracer_provider("gateway", rotel.endpoint)
        upload_traced(server.target, gateway)
        gateway.shutdown()

    # The consumer continues the trace from each record's headers.
    records = consume_records(tansu.bootstrap, topic, min_records=2)
    consumer = tracer_provider("consumer", rotel.endpoint)
    traceparents = []
    for record in records:
        headers = headers_of(record)
        traceparents.append(headers["traceparent"])
        parent = TraceContextTextMapPropagator().extract(headers)
        consumer.get_tracer("consumer").start_span(
            f"{topic} process", context=parent, kind=trace.SpanKind.CONSUMER
        ).end()
    consumer.shutdown()

    # gateway: upload + 2 client calls; sluice: 2 server calls + 2 batches; 2 consumer spans
    spans = wait_for_spans(collector, 9)
    [upload] = named(spans, "gateway", "gateway.upload")
    assert {s.span.trace_id for s in spans} == {upload.trace_id}, "more than one trace"
    batches = named(spans, "sluice", "sluice.batch")
    for rpc in ("Stream", "Push"):
        method = f"/sluice.v1.Ingest/{rpc}"
        client_call = child_of(upload, named(spans, "gateway", method))
        assert client_call.kind == Span.SPAN_KIND_CLIENT
        server_call = child_of(client_call, named(spans, "sluice", method))
        assert server_call.kind == Span.SPAN_KIND_SERVER
        child_of(server_call, batches)

    # Each record names its batch span in W3C form; the consumer spans hang off them.
    named_batches = set()
    for traceparent in traceparents:
        version, trace_id, span_id, flags = traceparent.split("-")
        assert (version, trace_id) == ("00", upload.trace_id.hex())
        assert int(flags, 16) & 1, "sampled flag"
        named_batches.add(span_id)
    assert named_batches == {batch.span_id.hex() for batch in batches}
    consumed = named(spans, "consumer", f"{topic} process")
    assert sorted(span.parent_span_id for span in consumed) == sorted(b.span_id for b in batches)
