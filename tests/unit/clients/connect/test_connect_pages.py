"""A connector following its source's pages: by Link header, by URL or by token, bounded per
poll, with the checkpoint moved page by page only while the pages come oldest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from connect_helpers import FakeClock, ListSink, ScriptedSource, example_document, observation

from sluice_client.connect import (
    CheckpointStore,
    Connector,
    ConnectorSpec,
    PollReport,
    SpecError,
    parse_spec,
)

URL = "http://127.0.0.1:8000/v1/observations"


def paged_spec(pagination: dict[str, Any], **changes: Any) -> ConnectorSpec:
    document = example_document()
    document["source"]["headers"].pop("Authorization")
    document["source"]["pagination"] = pagination
    document.update(changes)
    return parse_spec(document)


def page(*numbers: int, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
    body = {"observations": [observation(n) for n in numbers], **extra}
    return httpx.Response(200, content=json.dumps(body).encode(), headers=headers)


def minute(n: int) -> str:
    return f"2024-06-01T12:{n:02d}:00Z"


async def poll(
    tmp_path: Path, source: ScriptedSource, connector_spec: ConnectorSpec, polls: int = 1
) -> tuple[list[PollReport], ListSink]:
    sink = ListSink()
    async with source.client() as http:
        store = CheckpointStore(tmp_path, "w")
        connector = Connector(connector_spec, sink, http, store, clock=FakeClock())
        return [await connector.poll_once() for _ in range(polls)], sink


def saved_cursor(tmp_path: Path) -> object:
    checkpoint = CheckpointStore(tmp_path, "w").load()
    return None if checkpoint is None else checkpoint.cursor


async def test_link_headers_are_followed_to_the_last_page(tmp_path: Path) -> None:
    source = ScriptedSource(
        page(1, 2, headers={"Link": f'<{URL}?after=2>; rel="next"'}),
        page(3, 4, headers={"Link": '</v1/observations?after=4>; rel="next", <x>; rel="prev"'}),
        page(5),
    )
    (report,), sink = await poll(tmp_path, source, paged_spec({"next": "link"}))
    assert [str(request.url) for request in source.requests] == [
        f"{URL}?limit=500",
        f"{URL}?after=2",
        f"{URL}?after=4",
    ]
    assert (report.pages, report.items, report.readings, report.more) == (3, 5, 10, False)
    assert len(sink.readings) == 10
    assert report.cursor == saved_cursor(tmp_path) == minute(5)
    assert "3 pages" in report.summary()


async def test_a_relative_url_in_the_body_is_the_next_page(tmp_path: Path) -> None:
    source = ScriptedSource(
        page(1, next="?page=2"), page(2, next={"unused": 1}), page(3, next=None)
    )
    connector_spec = paged_spec({"next": "$.next"})
    (report,), _ = await poll(tmp_path, source, connector_spec)
    assert str(source.requests[1].url) == f"{URL}?page=2"
    assert report.drift == {"source.pagination.next": 1}  # an object is not a link
    assert report.pages == 2
    assert report.cursor == minute(2)


async def test_a_token_goes_with_the_polls_own_parameters(tmp_path: Path) -> None:
    source = ScriptedSource(page(1), page(2, meta={"token": "t2"}), page(3, meta={}))
    connector_spec = paged_spec({"next": "$.meta.token", "param": "page_token"})
    await poll(tmp_path, source, connector_spec)  # one page: no token in the first answer
    await poll(tmp_path, source, connector_spec)
    second, third = (dict(request.url.params) for request in source.requests[1:])
    assert second == {"limit": "500", "since": minute(1)}
    assert third == {"limit": "500", "since": minute(1), "page_token": "t2"}
    assert saved_cursor(tmp_path) == minute(3)


async def test_max_pages_leaves_the_rest_to_the_next_poll(tmp_path: Path) -> None:
    source = ScriptedSource(
        page(1, next="?p=2"), page(2, next="?p=3"), page(3, next="?p=4"), page(4)
    )
    connector_spec = paged_spec({"next": "$.next", "max_pages": 2})
    first, second = (await poll(tmp_path, source, connector_spec, polls=2))[0]
    assert (first.pages, first.more, first.cursor) == (2, True, minute(2))
    assert "more left for the next poll" in first.summary()
    assert source.requests[2].url.params["since"] == minute(2)
    assert (second.pages, second.more, second.cursor) == (2, False, minute(4))


async def test_a_page_that_fails_keeps_what_earlier_pages_acknowledged(tmp_path: Path) -> None:
    source = ScriptedSource(page(1, next="?p=2"), page(2, next="?p=3"), httpx.Response(500))
    connector_spec = paged_spec({"next": "$.next"}, retries=0)
    (report,), sink = await poll(tmp_path, source, connector_spec)
    assert not report.ok
    assert (report.pages, len(sink.readings)) == (2, 4)
    # Page 1 was saved once page 2 showed the order; page 2 waited for page 3 to show it.
    assert saved_cursor(tmp_path) == minute(1)


async def test_newest_first_pages_stop_at_the_checkpoint_and_save_once_done(
    tmp_path: Path,
) -> None:
    first = ScriptedSource(page(6, 5, next="?p=2"), page(4, 3, next="?p=3"), page(2, 1))
    connector_spec = paged_spec({"next": "$.next"})
    (report,), _ = await poll(tmp_path, first, connector_spec)
    assert (report.pages, report.readings, report.cursor) == (3, 12, minute(6))

    later = ScriptedSource(page(9, 8, next="?p=2"), page(7, 6, next="?p=3"), page(5, 4))
    (report,), sink = await poll(tmp_path, later, connector_spec)
    assert (report.pages, report.seen, report.cursor) == (2, 1, minute(9))
    assert len(sink.readings) == 6  # 9, 8 and 7; 6 was sent before


async def test_newest_first_pages_move_no_checkpoint_until_the_last_one(tmp_path: Path) -> None:
    failing = ScriptedSource(page(6, 5, next="?p=2"), httpx.Response(500))
    connector_spec = paged_spec({"next": "$.next", "max_pages": 2}, retries=0)
    (report,), _ = await poll(tmp_path, failing, connector_spec)
    assert not report.ok
    assert saved_cursor(tmp_path) is None  # page 2 held older items: they would be skipped

    cut_short = ScriptedSource(page(6, 5, next="?p=2"), page(4, 3, next="?p=3"))
    (report,), _ = await poll(tmp_path, cut_short, connector_spec)
    assert report.more
    assert report.drift == {"source.pagination.max_pages": 1}
    assert saved_cursor(tmp_path) is None


async def test_one_item_pages_newest_first_are_not_saved_before_their_order_shows(
    tmp_path: Path,
) -> None:
    failing = ScriptedSource(page(6, next="?p=2"), page(5, next="?p=3"), httpx.Response(500))
    connector_spec = paged_spec({"next": "$.next"}, retries=0)
    (report,), sink = await poll(tmp_path, failing, connector_spec)
    assert not report.ok
    assert len(sink.readings) == 4
    assert saved_cursor(tmp_path) is None  # minute 6 alone would have skipped 4 and older


async def test_a_next_page_on_another_origin_is_never_fetched(tmp_path: Path) -> None:
    source = ScriptedSource(page(1, next="http://elsewhere.example/v1/observations?p=2"))
    (report,), _ = await poll(tmp_path, source, paged_spec({"next": "$.next"}))
    assert len(source.requests) == 1
    assert report.drift == {"source.pagination.next": 1}
    assert "another origin" in report.examples[0]
    assert report.cursor == minute(1)


async def test_a_page_linking_back_ends_the_poll(tmp_path: Path) -> None:
    source = ScriptedSource(page(1, next="?p=2"), page(2, next="?p=2"))
    (report,), _ = await poll(tmp_path, source, paged_spec({"next": "$.next"}))
    assert len(source.requests) == 2
    assert "already fetched" in report.examples[0]


async def test_full_mode_takes_every_page_every_poll(tmp_path: Path) -> None:
    source = ScriptedSource(page(1, next="?p=2"), page(2), page(1, next="?p=2"), page(2))
    connector_spec = paged_spec({"next": "$.next"}, mode="full")
    reports, sink = await poll(tmp_path, source, connector_spec, polls=2)
    assert [report.pages for report in reports] == [2, 2]
    assert len(sink.readings) == 8


@pytest.mark.parametrize(
    ("pagination", "problem"),
    [
        ({"next": "link", "param": "t"}, "source.pagination.param: a token needs a JSONPath"),
        ({"next": "$.[", "max_pages": 2}, "source.pagination.next: '$.[' is not a JSONPath"),
        ({"next": "next_url"}, "source.pagination.next: 'next_url' does not match"),
        ({"next": "link", "max_pages": 0}, "source.pagination.max_pages: 0 is less than"),
        ({"param": "t"}, "source.pagination.next: is required"),
        ({"next": "link", "pages": 3}, "source.pagination.pages: unknown field"),
    ],
)
def test_a_bad_pagination_names_its_field(pagination: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError) as refused:
        paged_spec(pagination)
    assert any(line.startswith(problem) for line in refused.value.problems), refused.value
