"""Backfill throughput and its cost to an upload's wait (``make bench-backfill``)."""
