"""HTTP/JSON ingest: ``POST /v1/ingest`` on a listener of its own, through the same admission
path, pipeline and guarantees as gRPC (see ``app`` for the batch identity, ``statuses`` for
the status table, ``body`` for the JSON shape)."""
