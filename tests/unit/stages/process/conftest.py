"""Fixtures for the check-stage tests."""

from __future__ import annotations

import pytest
from process_helpers import Harness


@pytest.fixture
def harness() -> Harness:
    return Harness()
