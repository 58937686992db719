"""The roll-up: a Kafka consumer-group service keeping hourly (and per-minute) aggregates.

``sluice rollup`` runs it; ``sluice query`` serves what it keeps. See ``consumer`` for the
effectively-once contract and ``store`` for the storage interface.
"""
