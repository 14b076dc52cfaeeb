"""Entries partitioned by month of ``effective_at``, in place (issue 17; ``sql/schema/ledger.sql``, "Entries").

The old table is renamed, the partitioned one created beside it (``steps/0007_entries_by_month_tables.sql``),
a partition made for every month the old entries hold by ``ledger.ensure_entry_partitions`` -- the
function's own file, applied here because the copy needs it before ``migrate`` applies the function
files -- and the entries copied into them (``steps/0007_entries_by_month_copy.sql``). All in the one
database transaction of ``migrate``: an upgrade commits whole or not at all.
"""

from yoyo import step

from ledger_pipelines.paths import read_sql

__depends__ = {"0006_tamper_evidence"}


def partition_entries(conn) -> None:
    cursor = conn.cursor()
    cursor.execute(read_sql("migrations/steps/0007_entries_by_month_tables.sql"))
    cursor.execute(read_sql("schema/functions/ledger.ensure_entry_partitions.sql"))
    cursor.execute(read_sql("migrations/steps/0007_entries_by_month_copy.sql"))


steps = [step(partition_entries)]
