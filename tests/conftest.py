"""Fixtures shared by every tier: real Kafka-protocol brokers, one per test module."""

from tests.support.brokers import noida, tansu

__all__ = ["noida", "tansu"]
