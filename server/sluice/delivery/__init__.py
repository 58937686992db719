"""Durable delivery: a batch is durable once Kafka or the spool holds it.

``sink`` is the one owner: it decides Kafka or spool, owns the circuit breaker (``breaker``,
watched by ``watch``) and is the only one acting on its changes. ``kafka`` produces records
and reports deliveries; ``spool`` stores what Kafka cannot take now, and ``replayer`` sends
it back in order.
"""
