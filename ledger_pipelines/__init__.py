"""subledger.

Time-zone rules come from the pinned ``tzdata`` package, not the host: the day an instant falls on
must not depend on which machine computes it, and DuckDB (which dates the warehouse) carries its
own, current copy of the same database. A host's older copy (Debian's 2025b here) disagrees with
both for some zones (Cuba from 2026), so Python and the warehouse would date the same instant apart.
"""

import zoneinfo as _zoneinfo

_zoneinfo.reset_tzpath(to=())
