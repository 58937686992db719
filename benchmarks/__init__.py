"""Sluice's benchmark suite: load generator, locustfile, scenarios and committed results."""
