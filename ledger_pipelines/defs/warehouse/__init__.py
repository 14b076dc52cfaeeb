"""The warehouse domain in Dagster: mirror, daily snapshots, category aggregates, checks, restatement sensor."""
