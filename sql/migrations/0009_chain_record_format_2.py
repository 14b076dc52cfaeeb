"""The hash chain's records in format 2 (issue 20; docs/security.md, "Record format"), re-sealed in place.

Format 2 hashes each record's binary row (``record_send``) instead of its formatted text, which
makes sealing cheaper (``sql/schema/functions/ledger.chain_records.sql``). Links sealed in format
1 cannot be recomputed by the new function, so the history they sealed is sealed again by
:func:`ledger_pipelines.ledger.chain.reseal_history`: the old chain is verified with the functions
that sealed it -- still the installed ones here, as ``migrate`` applies the function files after
the migrations -- and the upgrade is refused if it does not verify; its head is recorded in the
audit log (``chain.resealed``) and its links removed, and ``migrate`` then seals the whole history
into a new genesis link. All in the one database transaction of ``migrate``. A database that never
had links (built by the 0.1.0 migrations) has nothing to re-seal.
"""

from yoyo import step

from ledger_pipelines.ledger.chain import reseal_history

__depends__ = {"0007_entries_by_month"}

steps = [step(reseal_history)]
