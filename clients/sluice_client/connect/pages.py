"""Pagination: from one page of a poll's response to the next.

A source that pages its answer says where the next page is in one of two ways:

- the ``Link`` header's ``rel="next"`` (RFC 8288): ``next: link``;
- a field of the response, found by a JSONPath (``next: $.links.next``): the next page's
  URL, absolute or relative to the page; or, with ``param``, a token sent as that query
  parameter along with the poll's own parameters.

The last page names no next one (no header, or the field absent, null or empty). A next page
on another origin than the source is refused, so the source's headers (its token) never go
anywhere else; so is a page already fetched in the same poll (a loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import httpx

from sluice_client.connect.fetch import Fetched
from sluice_client.connect.mapping import Drift, Field

DEFAULT_MAX_PAGES: Final = 10
NEXT_FIELD: Final = "source.pagination.next"


@dataclass(frozen=True, slots=True)
class Page:
    """One request of a poll."""

    url: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Pagination:
    """A compiled ``source.pagination`` section."""

    next: Field | None
    """Where the next page is named: a JSONPath into the response; None for the Link header."""
    param: str | None
    """The query parameter that carries a token found at ``next``; None when it is a URL."""
    max_pages: int = DEFAULT_MAX_PAGES
    """The most pages one poll fetches; the rest waits for the next poll."""

    def after(self, page: Page, fetched: Fetched, seen: set[Page]) -> Page | None:
        """The page after ``page``, or None when it was the last.

        Raises ``Drift`` (on ``source.pagination.next``) for a next page that is not a
        string or number, is on another origin, or was already fetched (in ``seen``).
        """
        value = fetched.next_link if self.next is None else self._found(fetched.body)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Drift(NEXT_FIELD, f"{value!r} is not a URL or a token")
        if self.param is not None:
            params = dict(page.params)
            params[self.param] = str(value)
            following = Page(page.url, tuple(params.items()))
        else:
            url = httpx.URL(fetched.url).join(str(value))
            if _origin(url) != _origin(httpx.URL(page.url)):
                raise Drift(NEXT_FIELD, f"the next page {str(url)!r} is on another origin")
            following = Page(str(url), ())
        if following in seen:
            raise Drift(NEXT_FIELD, f"the next page {following.url!r} was already fetched")
        return following

    def _found(self, body: object) -> object:
        assert self.next is not None
        try:
            return self.next.get(body)
        except Drift:  # no match: this is the last page
            return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)
