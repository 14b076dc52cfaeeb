-- Each correction (a reversal by reference and its replacement) into the audit log: the database
-- records the facts from the rows (ledger.record_corrections).
SELECT ledger.record_corrections(%(reversals)s::uuid[], %(replacements)s::uuid[])
