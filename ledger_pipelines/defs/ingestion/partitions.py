"""One dynamic partition per landed file, so every batch is visible, re-runnable and back-fillable."""

from __future__ import annotations

import re

import dagster as dg

landed_files_partitions = dg.DynamicPartitionsDefinition(name="landed_files")

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-/=+@]")


def partition_key_for(relative_path: str, content_hash: str) -> str:
    """``<path in the landing folder>@<first 12 hex of sha256>``: a new key when the content changes."""
    return f"{_UNSAFE.sub('_', relative_path)}@{content_hash[:12]}"


def relative_path_of(partition_key: str) -> str:
    return partition_key.rsplit("@", 1)[0]
