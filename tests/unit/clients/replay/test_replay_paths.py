"""Path templates collapse ids, UUIDs, hashes and tokens, and keep words."""

from __future__ import annotations

import pytest

from sluice_client.replay import template_of


@pytest.mark.parametrize(
    ("target", "template"),
    [
        ("/", "/"),
        ("", "/"),
        ("/api/users/12345", "/api/users/{id}"),
        ("/api/users/12345/orders?page=2#top", "/api/users/{id}/orders"),
        ("/reports/2024.csv", "/reports/{id}.csv"),
        ("/u/0b9f6b5e-2c1d-4f7a-9a3e-8d6c5b4a3f21/profile", "/u/{uuid}/profile"),
        ("/static/app.9f8e7d6c5b4a3928.js", "/static/app.{hash}.js"),
        ("/download/1.2.10/sluice.tar.gz", "/download/{id}.{id}.{id}/sluice.tar.gz"),
        ("/assets/9f8e7d6c5b4a39281706f5e4d3c2b1a0", "/assets/{hash}"),
        ("/commit/a1b2c3d4", "/commit/{hash}"),
        ("/facade/deadbeef", "/facade/deadbeef"),
        ("/reset/Zm9vYmFyYmF6cXV4MTIzNDU2Nzg", "/reset/{token}"),
        ("/very-long-but-only-words-here", "/very-long-but-only-words-here"),
        ("/api/v1/items/", "/api/v1/items/"),
        ("/a/" + "b" * 300, ("/a/" + "b" * 300)[:200]),
    ],
)
def test_templates(target: str, template: str) -> None:
    assert template_of(target) == template
