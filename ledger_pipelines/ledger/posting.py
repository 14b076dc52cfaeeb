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
from datetime import UTC, datetime
from typing import Literal, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from ledger_pipelines.accounting.balances import Balance
from ledger_pipelines.accounting.errors import (
    BalanceConditionFailed,
    ConditionFailure,
    ConnectionInTransaction,
    IdempotencyConflict,
    InvalidTransaction,
    InvalidTransition,
    LedgerError,
    UnknownTransaction,
    VersionConflict,
    VersionMismatch,
)
from ledger_pipelines.ledger import accounts as accounts_api
from ledger_pipelines.ledger.accounts import ensure_accounts, load_account_types
from ledger_pipelines.ledger.errors import translate
from ledger_pipelines.ledger.ids import account_id, uuid7
from ledger_pipelines.ledger.model import NewTransaction, PostedTransaction
from ledger_pipelines.paths import read_sql

T = TypeVar("T")

# Postgres errors worth retrying: the whole database transaction is simply run again.
RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)


class Ledger:
    """The ledger's write and read API over one psycopg connection (the writer role).

    ``actor`` is recorded in the audit log for every administrative action.

    Every operation is its own database transaction, committed before the method returns. So
    that reads on the same connection between operations do not leave a transaction open (which
    would turn the next operation into a savepoint of it, committed only if the caller commits),
    an idle connection is switched to autocommit; an operation started while the connection is
    inside a transaction opened elsewhere raises :class:`ConnectionInTransaction`.
    """

    def __init__(self, conn: psycopg.Connection, actor: str = "subledger", max_attempts: int = 5):
        self.conn = conn
        self.actor = actor
        self.max_attempts = max_attempts
        self._account_types: dict[str, str] | None = None
        self._in_operation = False
        # Codes of accounts known to exist (accounts are never deleted: trigger accounts_are_not_deleted),
        # so a posting to them skips the creation round trip.
        self._known_accounts: set[str] = set()
        if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.autocommit = True

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def account_types(self) -> dict[str, str]:
        if self._account_types is None:
            if self._in_operation:
                self._account_types = load_account_types(self.conn)
            else:
                with self._transaction():
                    self._account_types = load_account_types(self.conn)
        return self._account_types

    @contextmanager
    def _transaction(self, reason: str | None = None) -> Iterator[psycopg.Connection]:
        """One database transaction with the audit actor (and reason) set; guards -> typed errors."""
        status = self.conn.info.transaction_status
        if status != TransactionStatus.IDLE:
            raise ConnectionInTransaction(
                f"connection transaction_status={status.name}: the connection given to Ledger is inside a database "
                "transaction opened elsewhere, so this operation's writes would commit or roll back with it. "
                "Commit or roll back first, or give Ledger a connection in autocommit mode."
            )
        self._in_operation = True
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
        finally:
            self._in_operation = False

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
            posted = self._retrying(lambda: self._post_once(tx, batch_id))
        except pg_errors.UniqueViolation as exc:
            if "idempotency_key" not in str(exc):
                raise
            # A concurrent writer committed the same key first: answer as a replay would.
            posted = self._retrying(lambda: self._post_once(tx, batch_id))
        if posted.created:  # committed, so its accounts exist from now on
            self._known_accounts.update(leg.account for leg in tx.legs)
        return posted

    def _post_once(self, tx: NewTransaction, batch_id: str | None) -> PostedTransaction:
        content_hash = tx.content_hash()
        with self._transaction():
            existing = self._find(tx.idempotency_key)
            if existing is not None and existing[1] == tx.idempotency_key:
                return self._replayed(existing, content_hash)
            new_accounts = [leg.account for leg in tx.legs if leg.account not in self._known_accounts]
            if new_accounts:
                ensure_accounts(self.conn, new_accounts, self.account_types)
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
        at = at or datetime.now(UTC)
        if at.tzinfo is None:
            raise InvalidTransaction("at", at, "has no time zone", "Pass an aware datetime, e.g. in UTC.")

        def once() -> PostedTransaction:
            return self._retrying(lambda: self._move_once(target, to_status, at, transition_key, transition_hash, reason))

        try:
            return once()
        except pg_errors.UniqueViolation as exc:
            if "transition_key" not in str(exc):
                raise
            # A concurrent move with the same transition_key committed first: answer as a replay would.
            return once()

    def _move_once(self, target, to_status, at, transition_key, transition_hash, reason) -> PostedTransaction:
        with self._transaction(reason):
            row = self._find(target)
            if row is None:
                raise UnknownTransaction(f"target={target!r}: no transaction has this idempotency key or id. Check the key.")
            transaction_id, key, status, _hash, stored_transition, stored_transition_hash, _ = row
            if transition_key is not None:
                used = self.conn.execute(
                    "SELECT transaction_id::text, idempotency_key, status, transition_hash FROM ledger.transactions "
                    "WHERE transition_key = %s",
                    [transition_key],
                ).fetchone()
                if used is not None:
                    if used[0] != transaction_id or used[3] != transition_hash or used[2] != to_status:
                        raise IdempotencyConflict(
                            f"transition_key={transition_key!r} already moved transaction {used[1]!r} to {used[2]}"
                            + (f", not to {to_status}" if used[0] == transaction_id and used[2] != to_status
                               else " with different content" if used[0] == transaction_id else "")
                            + "; the first move stands. Use a new transition_key for a different move."
                        )
                    return PostedTransaction(transaction_id, key, used[2], created=False)
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
                now = self._find(transaction_id)
                if (transition_key is not None and now is not None and now[4] == transition_key and now[5] == transition_hash
                        and now[2] == to_status):
                    return PostedTransaction(transaction_id, key, now[2], created=False)
                raise InvalidTransition(
                    f"transaction {key!r} is no longer pending: a concurrent move made it "
                    f"{now[2] if now else 'unknown'}. Only a pending transaction moves; re-read it."
                )
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
        # The hash covers what the caller said: a replay without effective_at (which defaults to
        # now) is the same request, not a conflict.
        content_hash = _reversal_hash(target, effective_at, reason, metadata)
        at = effective_at or datetime.now(UTC)
        if at.tzinfo is None:
            raise InvalidTransaction("effective_at", at, "has no time zone", "Pass an aware datetime, e.g. in UTC.")

        def once() -> PostedTransaction:
            return self._retrying(
                lambda: self._reverse_once(target, idempotency_key, at, reason, metadata or {}, batch_id, content_hash)
            )

        try:
            return once()
        except pg_errors.UniqueViolation as exc:
            if "idempotency_key" not in str(exc) and "transactions_reversed_once" not in str(exc):
                raise
            # A concurrent writer committed this key or a reversal of the target first: run again,
            # which answers as a replay (same key) or refuses a second reversal.
            return once()

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
                # A reversal with this very key may have committed between the two reads (each
                # statement sees what was committed when it started): then this is a replay.
                mine = self._find(idempotency_key)
                if mine is not None and mine[1] == idempotency_key:
                    return self._replayed(mine, content_hash)
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

    # -- categories (administrative, audited with actor and reason) ------------------------------
    def create_category(self, code: str, *, parent: str | None = None, normal_balance: str | None = None,
                        description: str | None = None, reason: str | None = None) -> bool:
        """Create a group category (e.g. ``plan:pro``); False if it already exists exactly so."""
        with self._transaction(reason):
            return accounts_api.create_category(self.conn, code, parent=parent, normal_balance=normal_balance,
                                                description=description)

    def set_category_parent(self, code: str, parent: str | None, *, reason: str | None = None) -> None:
        with self._transaction(reason):
            accounts_api.set_category_parent(self.conn, code, parent)

    def add_to_category(self, code: str, accounts: list[str], *, reason: str | None = None) -> int:
        with self._transaction(reason):
            return accounts_api.add_to_category(self.conn, code, accounts)

    def remove_from_category(self, code: str, accounts: list[str], *, reason: str | None = None) -> int:
        with self._transaction(reason):
            return accounts_api.remove_from_category(self.conn, code, accounts)


def _reversal_hash(target: str, effective_at: datetime | None, reason: str | None, metadata: dict | None) -> str:
    import hashlib

    at = effective_at.astimezone(UTC).isoformat() if effective_at is not None and effective_at.tzinfo else effective_at
    document = {"reverses": target, "effective_at": str(at) if at is not None else None, "reason": reason, "metadata": metadata or {}}
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
