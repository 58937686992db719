"""Downstream: what reads the readings topic back.

``rollup`` keeps hourly aggregates per device from the Kafka records (reading only the
record contract); ``query`` serves them over HTTP/JSON.
"""
