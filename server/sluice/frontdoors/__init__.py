"""Front doors: where batches come in and Acks go out.

gRPC (``receiver``: the Ingest service, streams, admission and Acks) and HTTP/JSON
(``httpingest``), both through the same admission into the stages.
"""
