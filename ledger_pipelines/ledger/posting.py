"""Posting one transaction at a time: post, move a pending one, reverse a posted one.

Every operation is one database transaction that either writes everything it promises (the
transaction, its entries, the cached balances, lock versions and audit rows -- the last three by
database triggers) or nothing. Balance locking: before writing, the caller locks the cached
balances and accounts it touches in a global order (``ledger.lock_balances``), so balance
conditions and ``lock_version`` checks read a state no concurrent writer can change until commit
(invariant I9, proved by ``tests/ledger/test_concurrency.py``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Literal, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from ledger_pipelines.ledger.accounts import ensure_accounts, load_account_types
from ledger_pipelines.ledger.errors import (
    BalanceConditionFailed,
    ConditionFailure,
    IdempotencyConflict,
    InvalidTransition,
    LedgerError,
    UnknownTransaction,
    VersionConflict,
    VersionMismatch,
    translate,
)
from ledger_pipelines.ledger.ids import account_id, uuid7
from ledger_pipelines.ledger.model import Balance, NewTransaction, PostedTransaction
from ledger_pipelines.paths import read_sql

T = TypeVar("T")

# Postgres errors worth retrying: the whole database transaction is simply run again.
RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)


class Ledger:
    """The ledger's write and read API over one psycopg connection (the writer role).

    ``actor`` is recorded in the audit log for every administrative action.
    """

    def __init__(self, conn: psycopg.Connection, actor: str = "subledger", max_attempts: int = 5):
        self.conn = conn
        self.actor = actor
        self.max_attempts = max_attempts
        self._account_types: dict[str, str] | None = None

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def account_types(self) -> dict[str, str]:
        if self._account_types is None:
            with self._transaction():
                self._account_types = load_account_types(self.conn)
        return self._account_types

    @contextmanager
    def _transaction(self, reason: str | None = None) -> Iterator[psycopg.Connection]:
        """One database transaction with the audit actor (and reason) set; guards -> typed errors."""
        try:
            with self.conn.transaction():
                self.conn.execute(
                    "SELECT set_config('subledger.actor', %s, true), set_config('subledger.reason', %s, true)",
                    [self.actor, reason or ""],
                )
                yield self.conn
        except psycopg.Error as exc:
            typed = translate(exc)
            if typed is not None:
                raise typed from exc
            raise

    def _retrying(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` (one database transaction), again after a deadlock or serialization failure."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return operation()
            except RETRYABLE:
                if attempt == self.max_attempts:
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _lock(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
        ordered = sorted(pairs)
        rows = self.conn.execute(
            read_sql("ledger/lock_balances.sql"),
            {"account_ids": [p[0] for p in ordered], "currencies": [p[1] for p in ordered]},
        ).fetchall()
        return {(row[0], row[1]): row for row in rows}

    def _find(self, key: str) -> tuple | None:
        try:
            as_id = str(uuid.UUID(key))
        except ValueError:
            as_id = None
        return self.conn.execute(read_sql("ledger/find_transaction.sql"), {"key": key, "id": as_id}).fetchone()

    # -- writes --------------------------------------------------------------------------------
    def post(self, tx: NewTransaction, *, batch_id: str | None = None) -> PostedTransaction:
        """Post (or hold pending) one balanced transaction.

        Idempotent: the same key with the same content returns the stored transaction
        (``created=False``); with different content raises :class:`IdempotencyConflict`.
        Raises :class:`VersionConflict` if a leg's ``lock_version`` is stale and
        :class:`BalanceConditionFailed` if a condition would not hold afterwards; then nothing
        is written.
        """
        try:
            return self._retrying(lambda: self._post_once(tx, batch_id))
        except pg_errors.UniqueViolation as exc:
            if "idempotency_key" not in str(exc):
                raise
            # A concurrent writer committed the same key first: answer as a replay would.
            return self._retrying(lambda: self._post_once(tx, batch_id))

    def _post_once(self, tx: NewTransaction, batch_id: str | None) -> PostedTransaction:
        content_hash = tx.content_hash()
        with self._transaction():
            existing = self._find(tx.idempotency_key)
            if existing is not None and existing[1] == tx.idempotency_key:
                return self._replayed(existing, content_hash)
            ensure_accounts(self.conn, (leg.account for leg in tx.legs), self.account_types)
            ids = {leg.account: str(account_id(leg.account)) for leg in tx.legs}
            locked = self._lock({(ids[leg.account], leg.currency) for leg in tx.legs})
            stale = [
                VersionMismatch(leg.account, leg.lock_version, locked[(ids[leg.account], leg.currency)][2])
                for leg in tx.legs
                if leg.lock_version is not None and leg.lock_version != locked[(ids[leg.account], leg.currency)][2]
            ]
            if stale:
                raise VersionConflict(stale)
            transaction_id = str(uuid7())
            self.conn.execute(
                read_sql("ledger/insert_transaction.sql"),
                {
                    "transaction_id": transaction_id,
                    "idempotency_key": tx.idempotency_key,
                    "status": tx.status,
                    "effective_at": tx.effective_at,
                    "reverses": None,
                    "reference": tx.reference,
                    "source_event_id": tx.source_event_id,
                    "source_event_type": tx.source_event_type,
                    "batch_id": batch_id,
                    "content_hash": content_hash,
                    "description": tx.description,
                    "metadata": Jsonb(tx.metadata),
                    "source": Jsonb(tx.source) if tx.source is not None else None,
                },
            )
            self.conn.execute(
                read_sql("ledger/insert_entries.sql"),
                {
                    "transaction_id": transaction_id,
                    "effective_at": tx.effective_at,
                    "entry_nos": list(range(len(tx.legs))),
                    "account_ids": [ids[leg.account] for leg in tx.legs],
                    "directions": [leg.direction for leg in tx.legs],
                    "amounts": [leg.amount for leg in tx.legs],
                    "currencies": [leg.currency for leg in tx.legs],
                },
            )
            self._check_conditions(tx, ids)
            return PostedTransaction(transaction_id, tx.idempotency_key, tx.status, created=True)

    def _replayed(self, existing: tuple, content_hash: str) -> PostedTransaction:
        transaction_id, key, status, stored_hash = existing[:4]
        if stored_hash != content_hash:
            raise IdempotencyConflict(
                f"idempotency_key={key!r} already holds transaction {transaction_id} with different content. "
                "The first one stands; send a new key for a new transaction, or reverse the first one."
            )
        return PostedTransaction(transaction_id, key, status, created=False)

    def _check_conditions(self, tx: NewTransaction, ids: dict[str, str]) -> None:
        guarded = [leg for leg in tx.legs if leg.conditions]
        if not guarded:
            return
        pairs = sorted({(ids[leg.account], leg.currency) for leg in guarded})
        rows = self.conn.execute(
            read_sql("ledger/read_balances.sql"),
            {"account_ids": [p[0] for p in pairs], "currencies": [p[1] for p in pairs]},
        ).fetchall()
        after = {(r[0], r[3]): Balance(r[1], r[3], r[2], r[4], r[5], r[6], r[7], r[8]) for r in rows}
        failures = []
        for leg in guarded:
            balance = after[(ids[leg.account], leg.currency)]
            for condition in leg.conditions:
                value = balance.value(condition.balance)
                if not condition.holds(value):
                    failures.append(
                        ConditionFailure(leg.account, leg.currency, condition.balance, condition.op, condition.amount, value)
                    )
        if failures:
            raise BalanceConditionFailed(failures)

    def move(
        self,
        target: str,
        to_status: Literal["posted", "archived"],
        *,
        at: datetime | None = None,
        transition_key: str | None = None,
        transition_hash: str | None = None,
        reason: str | None = None,
    ) -> PostedTransaction:
        """Move a pending transaction (by idempotency key or id) to posted or archived.

        ``at`` is the business time of the move (``posted_at``/``archived_at``, default now);
        entries keep their ``effective_at``. With a ``transition_key``, repeating the same move
        is a no-op. Anything but pending -> posted/archived raises :class:`InvalidTransition`.
        """
        if to_status not in ("posted", "archived"):
            raise InvalidTransition(f"to_status={to_status!r}: a pending transaction moves to 'posted' or 'archived'.")
        at = at or datetime.now(timezone.utc)
        return self._retrying(lambda: self._move_once(target, to_status, at, transition_key, transition_hash, reason))

    def _move_once(self, target, to_status, at, transition_key, transition_hash, reason) -> PostedTransaction:
        with self._transaction(reason):
            row = self._find(target)
            if row is None:
                raise UnknownTransaction(f"target={target!r}: no transaction has this idempotency key or id. Check the key.")
            transaction_id, key, status, _hash, stored_transition, stored_transition_hash, _ = row
            if transition_key is not None and stored_transition == transition_key:
                if stored_transition_hash != transition_hash:
                    raise IdempotencyConflict(
                        f"transition_key={transition_key!r} already moved {key!r} with different content; the first move stands."
                    )
                return PostedTransaction(transaction_id, key, status, created=False)
            if status != "pending":
                raise InvalidTransition(
                    f"transaction {key!r} is {status}; only a pending transaction moves (to posted or archived)."
                    + (" Reverse it instead." if status == "posted" else "")
                )
            pairs = self.conn.execute(read_sql("ledger/transaction_pairs.sql"), {"transaction_id": transaction_id}).fetchall()
            self._lock({(p[0], p[1]) for p in pairs})
            moved = self.conn.execute(
                read_sql("ledger/move_transaction.sql"),
                {
                    "to_status": to_status,
                    "at": at,
                    "transition_key": transition_key,
                    "transition_hash": transition_hash,
                    "transaction_id": transaction_id,
                },
            ).fetchone()
            if moved is None:  # moved by someone else between the read and the lock
                raise InvalidTransition(f"transaction {key!r} is no longer pending; it was moved concurrently.")
            return PostedTransaction(transaction_id, key, to_status, created=True)

    def reverse(
        self,
        target: str,
        *,
        idempotency_key: str,
        effective_at: datetime | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        batch_id: str | None = None,
    ) -> PostedTransaction:
        """Post a new transaction with every leg of the posted ``target`` flipped, linked to it.

        The original is never changed. A transaction is reversed at most once; reversing a
        pending or archived one raises :class:`InvalidTransition` (archive a pending one).
        """
        effective_at = effective_at or datetime.now(timezone.utc)
        content_hash = _reversal_hash(target, effective_at, reason, metadata)
        return self._retrying(
            lambda: self._reverse_once(target, idempotency_key, effective_at, reason, metadata or {}, batch_id, content_hash)
        )

    def _reverse_once(self, target, idempotency_key, effective_at, reason, metadata, batch_id, content_hash):
        with self._transaction(reason):
            existing = self._find(idempotency_key)
            if existing is not None and existing[1] == idempotency_key:
                return self._replayed(existing, content_hash)
            row = self._find(target)
            if row is None:
                raise UnknownTransaction(f"target={target!r}: no transaction has this idempotency key or id. Check the key.")
            target_id, target_key, status, *_rest, reversed_by = row
            if status != "posted":
                raise InvalidTransition(
                    f"transaction {target_key!r} is {status}; only a posted transaction can be reversed"
                    + (" (archive a pending one instead)." if status == "pending" else ".")
                )
            if reversed_by is not None:
                raise InvalidTransition(f"transaction {target_key!r} was already reversed by {reversed_by}; it is reversed at most once.")
            pairs = self.conn.execute(read_sql("ledger/transaction_pairs.sql"), {"transaction_id": target_id}).fetchall()
            self._lock({(p[0], p[1]) for p in pairs})
            transaction_id = str(uuid7())
            self.conn.execute(
                read_sql("ledger/insert_transaction.sql"),
                {
                    "transaction_id": transaction_id,
                    "idempotency_key": idempotency_key,
                    "status": "posted",
                    "effective_at": effective_at,
                    "reverses": target_id,
                    "reference": None,
                    "source_event_id": None,
                    "source_event_type": "transaction.reversed",
                    "batch_id": batch_id,
                    "content_hash": content_hash,
                    "description": f"Reversal of {target_key}" + (f": {reason}" if reason else ""),
                    "metadata": Jsonb(metadata),
                    "source": None,
                },
            )
            self.conn.execute(
                read_sql("ledger/insert_reversal_entries.sql"),
                {"transaction_id": transaction_id, "effective_at": effective_at, "target_id": target_id},
            )
            return PostedTransaction(transaction_id, idempotency_key, "posted", created=True)


def _reversal_hash(target: str, effective_at: datetime, reason: str | None, metadata: dict | None) -> str:
    import hashlib

    document = {"reverses": target, "effective_at": effective_at.isoformat(), "reason": reason, "metadata": metadata or {}}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def retry_on_version_conflict(attempt: Callable[[], T], *, max_attempts: int = 10, backoff_s: float = 0.005) -> T:
    """Run ``attempt`` until it does not raise :class:`VersionConflict`.

    ``attempt`` must re-read the state it depends on (e.g. the account's lock_version and
    balance) and build its transaction from it each time -- that is what makes the retry safe.
    """
    for number in range(1, max_attempts + 1):
        try:
            return attempt()
        except VersionConflict:
            if number == max_attempts:
                raise
            time.sleep(backoff_s * number)
    raise AssertionError("unreachable")


__all__ = ["Ledger", "LedgerError", "retry_on_version_conflict"]
