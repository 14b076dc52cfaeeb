"""One dynamic partition per landed file, so every batch is visible, re-runnable and back-fillable."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import dagster as dg

landed_files_partitions = dg.DynamicPartitionsDefinition(name="landed_files")

# Kept as they are in a key; every other character (space, accents, '%', '@', controls, ...) is
# percent-encoded as UTF-8, so the key decodes back to exactly the file's path.
_SAFE = "/._-+="
# Dagster refuses keys containing "..." (dagster/_core/definitions/partitions/utils/base.py,
# INVALID_PARTITION_SUBSTRINGS; its other entries are control characters, which are encoded): a
# dot that follows two dots is encoded too.
_THIRD_DOT = re.compile(r"(?<=\.\.)\.")


def partition_key_for(relative_path: str, content_hash: str) -> str:
    """``<path in the landing folder, percent-encoded>@<first 12 hex of sha256>``: a new key when the content changes.

    The encoding is reversible (:func:`relative_path_of`), so ``march 2026.jsonl`` and
    ``march_2026.jsonl`` are two partitions, each naming its own file.
    """
    encoded = _THIRD_DOT.sub("%2E", quote(relative_path, safe=_SAFE))
    return f"{encoded}@{content_hash[:12]}"


def relative_path_of(partition_key: str) -> str:
    """The landing-folder path a key names, decoded exactly (keys made before encoding decode to themselves)."""
    return unquote(partition_key.rsplit("@", 1)[0], errors="strict")
