"""Per-reading checks and transforms: the hot path."""
