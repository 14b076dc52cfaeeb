"""Posting a whole batch, set-based: COPY straight into the ledger tables, checks as joins.

:func:`apply_plan` carries out a :class:`~ledger_pipelines.ledger.plan.PostingPlan` inside the
caller's open database transaction and returns one outcome per event (``seq``):
``posted`` / ``pending`` / ``duplicate`` / ``quarantined`` with a reason code and message. An
event is all-or-nothing: if any of its rows is refused, none of them is written.

How it stays correct and fast:

* a batch's idempotency keys are probed one at a time in the unique indexes (a join may scan a
  whole index, a cost that grows with the ledger), and just-in-time compilation is off for the
  batch's statements;
* batches take one advisory lock, so two processes ingesting overlapping files serialise and
  every event is posted exactly once (the idempotency key is checked under that lock);
* every balance the batch touches is locked in the global order before anything is decided,
  then balance conditions, lock versions and 64-bit overflow are decided in memory
  (:mod:`ledger_pipelines.ledger.guards`) against that locked state;
* everything that could make a database guard reject the batch (unknown targets, wrong
  lifecycle moves, closed periods, accounts that refuse a currency) is decided per event first,
  so one bad event never fails the batch; the database guards still check everything.

The stages, one module each, in the order a run takes them (each reads and extends one
:class:`~.state.Batch`):

* :mod:`.keys` -- idempotency keys, business references, closed periods;
* :mod:`.accounts` -- account codes checked, accounts created, currency restrictions;
* :mod:`.lifecycle` -- the targets of moves and reversals, in the batch or stored, and their checks;
* :mod:`.guarding` -- the balances locked, then conditions, lock versions and overflow replayed;
* :mod:`.write` -- the binary COPY into the ledger, moves, reversals, the corrections' audit rows;
* :mod:`.outcomes` -- one outcome per event.

The COPY helpers are :mod:`ledger_pipelines.postgres.copy`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg

from ledger_pipelines.ledger.bulk.accounts import PreparedLegs, account_legs, prepare_legs
from ledger_pipelines.ledger.bulk.guarding import lock_balances, replay_guards
from ledger_pipelines.ledger.bulk.keys import check_closed_periods, check_keys, check_references
from ledger_pipelines.ledger.bulk.lifecycle import existing_targets, resolve_lifecycle
from ledger_pipelines.ledger.bulk.outcomes import PlanResult
from ledger_pipelines.ledger.bulk.state import Batch
from ledger_pipelines.ledger.bulk.write import write_batch
from ledger_pipelines.ledger.plan import PostingPlan
from ledger_pipelines.paths import read_sql

__all__ = ["PlanResult", "apply_plan"]

BULK_ADVISORY_LOCK = 0x5B1ED6E2  # one batch at a time per ledger database


def apply_plan(
    conn: psycopg.Connection,
    plan: PostingPlan,
    *,
    batch_id: str,
    account_types: Mapping[str, str],
) -> PlanResult:
    """Carry out ``plan`` in the caller's open transaction; see the module docs."""
    batch = Batch(conn, plan.conform(), batch_id, dict(account_types))
    # The legs' account verdicts need no database: a second thread prepares them while the
    # server probes the keys (Polars and hashing run beside the wait for the server).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-legs") as pool:
        prepared = pool.submit(prepare_legs, batch.plan, batch.account_types)
        return _run(batch, prepared)


def _run(batch: Batch, prepared: Future[PreparedLegs]) -> PlanResult:
    conn, batch_id = batch.conn, batch.batch_id
    with batch.stage("lock"):
        conn.execute("SELECT set_config('subledger.batch_id', %s, true)", [batch_id])
        # A batch is many short index-driven statements whose estimated costs still cross the
        # JIT thresholds; compiling them costs 0.1-0.2 s each and saves nothing.
        conn.execute("SELECT set_config('jit', 'off', true)")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [BULK_ADVISORY_LOCK])
        conn.execute(read_sql("ledger/bulk/create_staging.sql"))
    with batch.stage("idempotency"):
        check_keys(batch)
        with batch.stage("idempotency.references"):
            check_references(batch)
        with batch.stage("idempotency.closed_periods"):
            check_closed_periods(batch)
    with batch.stage("accounts"):
        legs = account_legs(batch, prepared.result())
    with batch.stage("targets"):
        db_targets, target_legs = existing_targets(batch)
    with batch.stage("balance_locks"):
        state = lock_balances(batch, legs, target_legs)

    # A refusal can change what a later event's target is (and so its legs): decide until nothing new is refused.
    with batch.stage("decide"):
        while True:
            before = batch.refused.height
            moves, reversals = resolve_lifecycle(batch, db_targets)
            replay_guards(batch, legs, state, moves, reversals, target_legs)
            if batch.refused.height == before:
                break
    with batch.stage("write"):
        return write_batch(batch, legs, moves, reversals)
