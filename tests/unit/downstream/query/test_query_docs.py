"""/docs and /redoc load everything from the query API itself, and need no token.

The pages' rendering in a real browser with the internet cut is
tests/e2e/test_query_docs_offline.py; here, what they reference and what answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import httpx
import pytest

from sluice.core.config.query import QueryConfig
from sluice.downstream.query.app import build_query_app
from sluice.downstream.rollup.sqlite import SqliteRollupStore
from sluice.ops.auth import AuthConfig, TokenConfig, build_authenticator, token_digest

STATIC = files("sluice.downstream.query") / "static"
CONTENT_TYPES = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


class References(HTMLParser):
    """Every URL a page loads: script src, link href, and ReDoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("src", "href", "spec-url"):
                self.urls.append(value)


def references(page: str) -> list[str]:
    parser = References()
    parser.feed(page)
    return parser.urls


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A token-protected query app: the docs must open without a token all the same."""
    store = SqliteRollupStore(tmp_path / "rollup.db").open()
    tokens = (TokenConfig(tenant="acme", sha256=token_digest("t"), scopes=("query",)),)
    app = build_query_app(
        store,
        build_authenticator(AuthConfig(mode="token", tokens=tokens)),
        QueryConfig(),
        token_required=True,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://query") as http:
        yield http
    store.close()


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
async def test_a_docs_page_loads_only_files_the_api_serves(
    client: httpx.AsyncClient, page: str, script: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//[a-z0-9]", response.text, re.IGNORECASE), response.text
    urls = references(response.text)
    assert any(url.endswith(script) for url in urls), urls
    if page == "/docs":
        assert "url: '/openapi.json'" in response.text
        assert '"validatorUrl": null' in response.text
    for url in urls:
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert CONTENT_TYPES[Path(url).suffix] in asset.headers["content-type"], url
        assert asset.content


async def test_the_pages_follow_the_root_path_of_a_reverse_proxy(tmp_path: Path) -> None:
    store = SqliteRollupStore(tmp_path / "rollup.db").open()
    app = build_query_app(
        store, build_authenticator(AuthConfig()), QueryConfig(), token_required=False
    )
    transport = httpx.ASGITransport(app=app, root_path="/sluice")
    async with httpx.AsyncClient(transport=transport, base_url="http://query") as http:
        page = (await http.get("/docs")).text
    store.close()

    assert all(url.startswith("/sluice/") for url in references(page)), page
    assert "url: '/sluice/openapi.json'" in page


async def test_an_unknown_asset_is_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs-assets/swagger_ui/nope.js")).status_code == 404


@pytest.mark.parametrize(
    ("folder", "package"), [("swagger_ui", "swagger-ui-dist"), ("redoc", "redoc")]
)
def test_the_vendored_files_carry_their_license_and_the_readme_their_version(
    folder: str, package: str
) -> None:
    manifest = json.loads((STATIC / folder / "package.json").read_text(encoding="utf-8"))
    readme = (STATIC / "README.md").read_text(encoding="utf-8")

    assert manifest["name"] == package
    assert re.match(r"^\d+\.\d+\.\d+$", manifest["version"]), "pin an exact release"
    assert f"| `{package}` | {manifest['version']} |" in readme
    assert (STATIC / folder / "LICENSE").read_text(encoding="utf-8").strip()
