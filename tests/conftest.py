"""Fixtures shared by every tier: real Kafka-protocol brokers, one per test module, a
throwaway PostgreSQL server for the session (a fresh database per test), and the server
image, built once per session (with a summary of how long the image, compose and browser
steps took)."""

from tests.support.brokers import noida, tansu
from tests.support.images import pytest_terminal_summary, sluice_image
from tests.support.postgres import postgres, postgres_dsn

__all__ = ["noida", "postgres", "postgres_dsn", "pytest_terminal_summary", "sluice_image", "tansu"]
