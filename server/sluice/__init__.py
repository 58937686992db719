"""Sluice: a high-throughput gRPC ingestion gateway that produces sensor readings to Kafka."""

__all__ = ["__version__"]

__version__ = "0.1.0"
