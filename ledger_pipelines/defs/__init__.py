"""The Dagster layer: one folder per domain (assets, checks, resources, partitions, schedules,
sensors), each thin over the domain packages. ``definitions.py`` merges the domains."""
