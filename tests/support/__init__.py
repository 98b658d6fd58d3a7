"""Helpers shared by the test tiers: fakes for the unit tier (fakes.py), server helpers (server.py)."""
