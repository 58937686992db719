"""The query API: hourly roll-ups over HTTP/JSON, described by OpenAPI (FastAPI).

Every answer is limited to the caller's tenant: the tenant of its bearer token (which
needs the ``query`` scope), or ``auth.default_tenant`` under ``auth.mode: none``.
Listings are paginated by key (``limit``, ``cursor``, ``next_cursor``). A bad parameter is
a 400 with a ``detail`` that says what is wrong; the store being down is a 503.

The OpenAPI document is at ``/openapi.json``, with Swagger UI at ``/docs`` and ReDoc at
``/redoc``, both served from the package (``sluice.downstream.query.docs``).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint signatures, whose
# Annotated parameters refer to this function's locals.

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_fastapi_instrumentator import Instrumentator

from sluice.core.config.query import DEFAULT_TOP, QueryConfig
from sluice.downstream.query.docs import install_docs
from sluice.downstream.query.metrics import QueryMetrics
from sluice.downstream.query.models import (
    Device,
    DeviceFigures,
    DevicePage,
    ErrorBody,
    FleetHour,
    FleetHourPage,
    Hour,
    HourPage,
    Metric,
    MetricPage,
    figures,
    utc,
)
from sluice.downstream.query.openapi import error_responses, install_openapi
from sluice.downstream.query.paging import BadRequest, decode_cursor, hour_span, next_cursor
from sluice.downstream.rollup.aggregate import NS_PER_S
from sluice.downstream.rollup.store import RollupStore, StoreUnavailable
from sluice.ops.auth import Authenticator, AuthError, Unauthenticated

NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
"""Device ids and metric names: any text without control characters."""
NAME_MAX_LENGTH = 256
RETRY_AFTER_S = 1


def build_query_app(
    store: RollupStore,
    authenticator: Authenticator,
    config: QueryConfig,
    token_required: bool,
    clock: Callable[[], float] = time.time,
    metrics: QueryMetrics | None = None,
) -> FastAPI:
    """The query app over ``store``; ``token_required`` documents bearer auth in OpenAPI.

    With ``metrics``, every request is counted there by route template, method and status,
    with its latency (``sluice_query_http_*``).
    """
    app = FastAPI(
        title="Sluice query API",
        version="1",
        summary="Hourly roll-ups of the sensor readings Sluice ingested, per tenant.",
        docs_url=None,
        redoc_url=None,
    )
    tenant_of = _tenant_dependency(authenticator, token_required)
    Tenant = Annotated[str, Depends(tenant_of)]
    Name = Annotated[str, Path(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)]
    Limit = Annotated[
        int, Query(ge=1, le=config.max_page_size, description="Items per page at most.")
    ]
    Cursor = Annotated[
        str | None,
        Query(max_length=1024, description="`next_cursor` of the previous page."),
    ]
    From = Annotated[
        datetime | None,
        Query(
            alias="from",
            description=f"RFC 3339 start; default {config.default_range_h} h before `to`. "
            "Hours are included from the one holding `from`.",
        ),
    ]
    To = Annotated[
        datetime | None,
        Query(alias="to", description="RFC 3339 end (exclusive); default now."),
    ]
    Top = Annotated[
        int,
        Query(ge=0, le=config.max_top, description="Devices with the highest mean per hour."),
    ]
    responses = error_responses(token_required)
    # A path parameter decoding to "/" or a line break leaves the path unroutable.
    routed = error_responses(
        token_required, "No such path: a path parameter holds `/` or a line break."
    )
    default_top = min(DEFAULT_TOP, config.max_top)

    def span(start: datetime | None, end: datetime | None) -> tuple[int, int]:
        now = datetime.fromtimestamp(clock(), UTC)
        return hour_span(start, end, now, config.default_range_h, config.max_range_h)

    @app.get("/v1/devices", response_model=DevicePage, responses=responses, tags=["devices"])
    def list_devices(
        tenant: Tenant, limit: Limit = config.page_size, cursor: Cursor = None
    ) -> DevicePage:
        """The tenant's devices that have roll-ups, by device_id."""
        after = decode_cursor(cursor, "devices", "")
        rows = store.devices(tenant, after, limit + 1)
        return DevicePage(
            items=[Device.of(row) for row in rows[:limit]],
            next_cursor=next_cursor("devices", [row.device_id for row in rows], limit),
        )

    @app.get(
        "/v1/devices/{device_id:path}/metrics",
        response_model=MetricPage,
        responses=error_responses(
            token_required, "The device has no roll-ups, or the path holds `/` or a line break."
        ),
        tags=["devices"],
    )
    def list_metrics(
        tenant: Tenant,
        device_id: Name,
        limit: Limit = config.page_size,
        cursor: Cursor = None,
    ) -> MetricPage | JSONResponse:
        """The metrics of one device, by name; 404 when the device has no roll-ups."""
        after = decode_cursor(cursor, "metrics", "")
        rows = store.metrics(tenant, device_id, after, limit + 1)
        if not rows and cursor is None:
            return _error(404, f"device {device_id!r} has no roll-ups")
        return MetricPage(
            device_id=device_id,
            items=[Metric.of(row) for row in rows[:limit]],
            next_cursor=next_cursor("metrics", [row.metric for row in rows], limit),
        )

    @app.get(
        "/v1/devices/{device_id:path}/metrics/{metric}/hourly",
        response_model=HourPage,
        responses=routed,
        tags=["devices"],
    )
    def device_hourly(
        tenant: Tenant,
        device_id: Name,
        metric: Name,
        start: From = None,
        end: To = None,
        limit: Limit = config.page_size,
        cursor: Cursor = None,
    ) -> HourPage:
        """One device's hours of one metric: count, mean, min, max, first and last time."""
        first, until = span(start, end)
        first = max(first, decode_cursor(cursor, "hours", first - 1) + 1)
        rows = store.buckets(tenant, device_id, metric, (first, until), limit + 1)
        return HourPage(
            device_id=device_id,
            metric=metric,
            items=[Hour.of(row) for row in rows[:limit]],
            next_cursor=next_cursor("hours", [row.start_s for row in rows], limit),
        )

    @app.get(
        "/v1/metrics/{metric}/hourly",
        response_model=FleetHourPage,
        responses=routed,
        tags=["metrics"],
    )
    def fleet_hourly(
        tenant: Tenant,
        metric: Name,
        start: From = None,
        end: To = None,
        top: Top = default_top,
        limit: Limit = config.page_size,
        cursor: Cursor = None,
    ) -> FleetHourPage:
        """One metric's hours across the tenant's devices, with the ``top`` devices by mean."""
        first, until = span(start, end)
        first = max(first, decode_cursor(cursor, "fleet-hours", first - 1) + 1)
        rows = store.fleet_buckets(tenant, metric, (first, until), limit + 1)
        page = rows[:limit]
        leaders: dict[int, list[DeviceFigures]] = {row.start_s: [] for row in page}
        if page and top:
            for row in store.top_devices(tenant, metric, (first, page[-1].start_s + 1), top):
                leaders[row.start_s].append(
                    DeviceFigures(device_id=row.device_id, **figures(row.aggregate))
                )
        items = [
            FleetHour(
                hour=utc(row.start_s * NS_PER_S),
                devices=row.devices,
                top=leaders[row.start_s],
                **figures(row.aggregate),
            )
            for row in page
        ]
        return FleetHourPage(
            metric=metric,
            items=items,
            next_cursor=next_cursor("fleet-hours", [row.start_s for row in rows], limit),
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _install_error_handlers(app)
    install_openapi(app)
    install_docs(app)
    if metrics is not None:
        instrument(app, metrics)
    return app


def instrument(app: FastAPI, metrics: QueryMetrics) -> None:
    """Count ``app``'s requests in ``metrics`` by route template (never the raw path, whose
    device ids would make a series each), method and exact status, and time them."""
    Instrumentator(
        should_group_status_codes=False, excluded_handlers=["/healthz"], registry=metrics.registry
    ).add(metrics.requests).instrument(app)


def _tenant_dependency(authenticator: Authenticator, token_required: bool) -> Callable[..., str]:
    """The dependency that names the caller's tenant (documented as bearer auth if needed)."""

    def tenant(request: Request) -> str:
        return authenticator.authenticate(request.headers.items(), "query").tenant

    if not token_required:
        return tenant
    bearer = HTTPBearer(auto_error=False, description="A bearer token with the `query` scope.")

    def tenant_with_token(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        return tenant(request)

    return tenant_with_token


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail).model_dump(), status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    async def invalid(request: Request, exc: Any) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {error['msg']}")
        return _error(400, "; ".join(problems))

    async def bad_request(request: Request, exc: Any) -> JSONResponse:
        return _error(400, str(exc))

    async def refused(request: Request, exc: Any) -> JSONResponse:
        if isinstance(exc, Unauthenticated):
            return _error(401, exc.http_message, {"WWW-Authenticate": "Bearer"})
        return _error(403, exc.http_message)

    async def unavailable(request: Request, exc: Any) -> JSONResponse:
        return _error(
            503, "the roll-up store is unavailable; try again", {"Retry-After": str(RETRY_AFTER_S)}
        )

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(BadRequest, bad_request)
    app.add_exception_handler(AuthError, refused)
    app.add_exception_handler(StoreUnavailable, unavailable)
