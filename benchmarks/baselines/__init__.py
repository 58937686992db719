"""The servers Sluice is measured against: the transport ceiling, and a naive baseline."""
