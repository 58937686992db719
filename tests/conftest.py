"""Fixtures shared by every tier: real Kafka-protocol brokers, one per test module, and a
throwaway PostgreSQL server for the session (a fresh database per test)."""

from tests.support.brokers import noida, tansu
from tests.support.postgres import postgres, postgres_dsn

__all__ = ["noida", "postgres", "postgres_dsn", "tansu"]
