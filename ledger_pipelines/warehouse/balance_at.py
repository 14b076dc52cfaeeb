"""Balance at any time -- kept in the ledger core, re-exported here for the warehouse's callers.

``ledger.balance_anchors`` (written by :mod:`ledger_pipelines.warehouse.anchors` from the
snapshot computation) holds exact balances at instants, each with the Postgres snapshot it was
computed from. :func:`ledger_pipelines.ledger.balances.balance_at` and the as-of path of
:func:`ledger_pipelines.ledger.balances.balances` (what ``subledger balance/balances --as-of``
run) add to the latest anchor at or before ``T`` the difference, per entry, between its
contribution now and the contribution the anchor counted (``sql/ledger/balance_at.sql``). The
answer equals the full recomputation (:func:`~ledger_pipelines.ledger.balances.recomputed_balances`)
exactly, also with ``known_at``. They read Postgres only: no warehouse file is needed.
"""

from __future__ import annotations

from ledger_pipelines.ledger.balances import balance_at, balances, recomputed_balances

anchored_balances = balances  # the as-of path of balances() is the anchored one

__all__ = ["anchored_balances", "balance_at", "balances", "recomputed_balances"]
