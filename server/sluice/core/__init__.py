"""Core: what every layer shares and that depends on none of them.

The unit of work (``batch``), the domain errors (``errors``) and reason codes (``reasons``),
the record contract (``record_contract``), the C walker of the wire format (``_wire``), and
the configuration models, section by section (``config``).
"""
