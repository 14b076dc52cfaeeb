"""The baseline: the tables of ``sql/schema/`` (``ledger.sql``, then ``ingest.sql``) on an empty database.

Applied by ``ledger_pipelines.postgres.migrate`` (``subledger up``), never by the yoyo command: it
applies the function files after it and records every later migration as applied without running
it, because the schema files already hold their effect. On a database built by the stacked
migrations of 0.1.0 this is recorded as applied instead, and ``0002_from_stacked_migrations``
brings it to the baseline. The rules every migration follows are in ``README.md`` here.
"""

from yoyo import step

from ledger_pipelines.postgres.migrate import create_schema

steps = [step(create_schema)]
