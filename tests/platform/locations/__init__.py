"""Test-only Dagster code locations (loaded next to the real one by the platform tests)."""
