"""Postgres plumbing: the embedded cluster, migrations and connections (no ledger logic here)."""
