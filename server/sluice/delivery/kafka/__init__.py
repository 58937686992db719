"""The Kafka side: record encoding, the async producer and the sink stage."""
