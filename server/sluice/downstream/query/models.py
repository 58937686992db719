"""The query API's JSON bodies, as pydantic models (the OpenAPI schemas are made from them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypedDict

from pydantic import BaseModel, Field

from sluice.downstream.rollup.aggregate import NS_PER_S, Aggregate
from sluice.downstream.rollup.store import Bucket, DeviceSummary, MetricSummary

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(unix_ns: int) -> datetime:
    """``unix_ns`` as an aware UTC datetime, to the microsecond."""
    return _EPOCH + timedelta(microseconds=unix_ns // 1000)


class ErrorBody(BaseModel):
    """Why a request failed."""

    detail: str = Field(description="What was wrong, for a person to read.")


class Device(BaseModel):
    """A device that has hourly roll-ups."""

    device_id: str
    last_seen: datetime = Field(description="Event time of its latest reading.")

    @classmethod
    def of(cls, summary: DeviceSummary) -> Device:
        return cls(device_id=summary.device_id, last_seen=utc(summary.last_ns))


class Metric(BaseModel):
    """A metric of one device."""

    metric: str
    readings: int = Field(description="Readings of this metric rolled up, over all hours.")
    last_seen: datetime = Field(description="Event time of its latest reading.")

    @classmethod
    def of(cls, summary: MetricSummary) -> Metric:
        return cls(metric=summary.metric, readings=summary.readings, last_seen=utc(summary.last_ns))


class Figures(BaseModel):
    """The aggregate of some readings."""

    count: int = Field(description="How many readings.")
    mean: float
    min: float
    max: float


class FigureFields(TypedDict):
    """The keyword arguments of ``Figures``."""

    count: int
    mean: float
    min: float
    max: float


def figures(aggregate: Aggregate) -> FigureFields:
    """The ``Figures`` fields of ``aggregate``."""
    return FigureFields(
        count=aggregate.count, mean=aggregate.mean, min=aggregate.minimum, max=aggregate.maximum
    )


class Hour(Figures):
    """One hour of one device's metric."""

    hour: datetime = Field(description="Start of the hour (UTC).")
    first: datetime = Field(description="Event time of the hour's earliest reading.")
    last: datetime = Field(description="Event time of the hour's latest reading.")

    @classmethod
    def of(cls, bucket: Bucket) -> Hour:
        a = bucket.aggregate
        return cls(
            hour=utc(bucket.start_s * NS_PER_S),
            first=utc(a.first_ns),
            last=utc(a.last_ns),
            **figures(a),
        )


class DeviceFigures(Figures):
    """One device's figures within an hour."""

    device_id: str


class FleetHour(Figures):
    """One hour of a metric across the tenant's devices."""

    hour: datetime = Field(description="Start of the hour (UTC).")
    devices: int = Field(description="How many devices reported the metric in this hour.")
    top: list[DeviceFigures] = Field(
        description="The devices with the highest mean in this hour, highest first (`top`)."
    )


class Page(BaseModel):
    """One page of a listing; pass ``next_cursor`` as ``cursor`` to get the next one."""

    next_cursor: str | None = Field(description="Cursor of the next page; null on the last one.")


class DevicePage(Page):
    """A page of the tenant's devices, by device_id."""

    items: list[Device]


class MetricPage(Page):
    """A page of one device's metrics, by name."""

    device_id: str
    items: list[Metric]


class HourPage(Page):
    """A page of one device's hours of one metric, oldest first."""

    device_id: str
    metric: str
    items: list[Hour]


class FleetHourPage(Page):
    """A page of one metric's hours across the tenant's devices, oldest first."""

    metric: str
    items: list[FleetHour]
