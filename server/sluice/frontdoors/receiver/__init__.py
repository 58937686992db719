"""The gRPC front of the pipeline: the Ingest service, streams, Acks and admission control."""
