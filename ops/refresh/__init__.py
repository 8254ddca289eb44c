"""Catalog refresh: incremental planning, sharded inference, merge, checks, publish."""
