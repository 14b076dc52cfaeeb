"""Ingestion: the source-event contract (docs/source-events.md) from files and the outbox to a PostingPlan.

Front end (pure, no database): :mod:`.readers` -> :mod:`.validation` (+ :mod:`.journal`,
:mod:`.row_checks`) -> :mod:`.hashing` -> :mod:`.mapping` with :mod:`.rules`; :func:`.prepare.prepare_batch`
runs them all. Database side: :mod:`.writer`, :mod:`.quarantine`, :mod:`.service`.
"""
