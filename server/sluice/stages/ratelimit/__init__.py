"""Token-bucket rate limits per tenant, per device and per tenant byte stream."""
