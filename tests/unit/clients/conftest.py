"""Fixtures for the client SDK tests: a scripted Ingest server on 127.0.0.1."""

from collections.abc import AsyncIterator

import pytest
from scripted_ingest import ScriptedIngest, serve


@pytest.fixture
def double() -> ScriptedIngest:
    """The scripted Ingest service; tests set its responder before sending."""
    return ScriptedIngest()


@pytest.fixture
async def target(double: ScriptedIngest) -> AsyncIterator[str]:
    """``host:port`` of a server running ``double``."""
    async with serve(double) as address:
        yield address
