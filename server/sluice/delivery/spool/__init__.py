"""The spool: an append-only, checksummed, segmented store of records on local disk.

Storage only: it knows nothing of Kafka. ``spool`` is the store, ``segments`` and ``frames``
its file format, ``repair`` the recovery of a torn tail, ``dirs`` the per-worker directories
and ``syncer`` the fsync policy.
"""
