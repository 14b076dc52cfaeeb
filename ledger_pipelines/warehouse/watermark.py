"""Watermarks: Postgres snapshots (``pg_current_snapshot()``) and what they saw.

A snapshot ``xmin:xmax:xip`` says which database transactions had committed when it was taken:
every xid below ``xmin``, and every xid below ``xmax`` that is not in the in-progress list
``xip``. A ledger row changed by xid ``x`` (``created_xid``/``changed_xid``) was *seen* by the
snapshot iff ``x`` is visible in it. Two snapshots taken one after the other define exactly the
rows changed in between -- including those of a transaction that started before the first
snapshot and committed after it (it was in ``xip``), which a plain "xid > last max" watermark
would skip for ever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SNAPSHOT = re.compile(r"^(\d+):(\d+):((?:\d+(?:,\d+)*)?)$")


@dataclass(frozen=True)
class Watermark:
    """A Postgres snapshot: ``xmin``, ``xmax`` and the xids in progress when it was taken."""

    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Watermark:
        """From Postgres' text form ``'xmin:xmax:xip1,xip2'``."""
        match = _SNAPSHOT.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a Postgres snapshot (xmin:xmax:xip,...)")
        xip = tuple(int(x) for x in match.group(3).split(",")) if match.group(3) else ()
        return cls(int(match.group(1)), int(match.group(2)), xip)

    @property
    def text(self) -> str:
        """Postgres' text form; safe to inline in SQL (digits, ':' and ',' only)."""
        return f"{self.xmin}:{self.xmax}:{','.join(str(x) for x in self.xip)}"

    def visible(self, xid: int) -> bool:
        """Whether a row written by committed transaction ``xid`` was seen by this snapshot."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.xip)

    def duckdb_visible(self, column: str) -> str:
        """A DuckDB boolean expression: ``column`` (an xid, UBIGINT) is visible in this snapshot."""
        in_progress = f" AND {column} NOT IN ({','.join(str(x) for x in self.xip)})" if self.xip else ""
        return f"({column} < {self.xmin} OR ({column} < {self.xmax}{in_progress}))"
