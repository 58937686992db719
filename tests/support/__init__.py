"""Helpers shared by the test tiers: brokers, servers and client traffic."""
