"""Bounded line splitting: a file read or decompressed in pieces, never more than its limits in memory."""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ledger_pipelines.ingest.readers.raw import ReadLimits


def _too_big(size: int, limits: ReadLimits, what: str = "the file holds") -> str:
    return (f"{what} more than {limits.max_file_bytes:,} bytes ({size:,} read), the largest file one batch reads "
            "(SUBLEDGER_MAX_FILE_BYTES); split it into smaller files and drop those.")



READ_CHUNK = 8 << 20  # bytes read (or decompressed) at a time
GZIP_RATIO_FLOOR = 64 << 20  # a .jsonl.gz may always expand to this much, whatever its ratio (small, repetitive files)


class _OverBudget(Exception):
    def __init__(self, read: int):
        super().__init__(read)
        self.read = read


@dataclass
class _Lines:
    """A file's lines as one buffer, lines longer than the limit emptied; their numbers and sizes apart."""

    data: bytearray  # not copied into bytes: the readers take any buffer
    oversized: dict[int, int]  # 1-based line number -> its length in bytes (without the line end)


def _collect_lines(chunks, limits: ReadLimits, *, budget: int) -> _Lines:
    """Join ``chunks`` into one buffer, without ever holding a line longer than ``limits.max_line_bytes``.

    Such a line is replaced by an empty one (its number and size are kept), so memory is bounded
    by the file's lines of acceptable length, whatever the file holds. More than ``budget``
    bytes in all raises :class:`_OverBudget` as soon as they are read.
    """
    cap = limits.max_line_bytes
    out = bytearray()
    oversized: dict[int, int] = {}
    total = 0
    line_no = 1  # the line being read
    current = 0  # its bytes so far (kept in ``out`` unless dropping)
    dropping = False
    for chunk in chunks:
        total += len(chunk)
        if total > budget:
            raise _OverBudget(total)
        newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        if not dropping:
            first = (newlines[0] if len(newlines) else len(chunk)) + current
            longest = int(np.diff(newlines).max()) - 1 if len(newlines) > 1 else 0
            tail = len(chunk) - 1 - int(newlines[-1]) if len(newlines) else 0
            if first <= cap and longest <= cap and (tail if len(newlines) else first) <= cap:
                out += chunk
                line_no += len(newlines)
                current = tail if len(newlines) else first
                continue
        start = 0
        for end in [*(int(n) for n in newlines), len(chunk)]:
            piece = end - start  # bytes of this line within the chunk, without its '\n'
            ends_line = end < len(chunk)
            if not dropping and current + piece > cap:
                if current:
                    del out[len(out) - current:]
                dropping = True
            if dropping:
                current += piece
                if ends_line:
                    oversized[line_no] = current
                    out += b"\n"
            else:
                out += chunk[start:end + 1] if ends_line else chunk[start:end]
                current += piece
            if ends_line:
                line_no += 1
                current = 0
                dropping = False
            start = end + 1
    if dropping:
        oversized[line_no] = current
        out += b"\n"
    return _Lines(out, oversized)
