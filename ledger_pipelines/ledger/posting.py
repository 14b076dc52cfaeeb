"""Posting one transaction at a time (or several per call): post, move a pending one, reverse a posted one.

Each operation is one call of a SECURITY DEFINER function in one round trip (``Ledger.post`` ->
``ledger.post_transaction``, ``Ledger.move`` -> ``ledger.move_transaction``, ``Ledger.reverse`` ->
``ledger.reverse_transaction``, ``Ledger.post_many`` -> ``ledger.post_many``, which runs
``post_transaction`` once per posting; ``sql/schema/functions/``), one database transaction that
either writes everything it promises (the transaction, its entries, the cached balances with
their versions, and audit rows) or nothing (``post_many``: per posting). The function locks the
cached balances it touches in the global order (``ledger.lock_balances``) -- all of an account's
when a leg checks its ``lock_version``, which is derived from them (``ledger.lock_version``) -- so
balance conditions and ``lock_version`` checks read a state no concurrent writer can change until
commit (invariant I9, proved by ``tests/ledger/test_concurrency.py``). The calls are prepared statements
whose text is read once, sent through libpq with their arguments as text
(:mod:`ledger_pipelines.postgres.prepared`), and a posting builds no frame: the single-post path
costs the client a few dozen microseconds.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from ledger_pipelines.accounting.accounts import normal_balance_of
from ledger_pipelines.accounting.errors import (
    ConnectionInTransaction,
    InvalidTransaction,
    InvalidTransition,
    LedgerError,
    VersionConflict,
)
from ledger_pipelines.ledger import accounts as accounts_api
from ledger_pipelines.ledger.accounts import load_account_types
from ledger_pipelines.ledger.errors import refusal, translate
from ledger_pipelines.ledger.ids import uuid7_text
from ledger_pipelines.ledger.model import Condition, NewTransaction, PostedTransaction
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import small_array_literal, text_array_literal
from ledger_pipelines.postgres.prepared import PreparedCall, PreparedCalls, as_text

T = TypeVar("T")

# Postgres errors worth retrying: the whole database transaction is simply run again.
RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)

# The calls, read once; each is prepared on a connection at its first use (PreparedCalls).
_POST_CALL = PreparedCall(read_sql("ledger/post.sql"))
_MOVE_CALL = PreparedCall(read_sql("ledger/move.sql"))
_REVERSE_CALL = PreparedCall(read_sql("ledger/reverse.sql"))
_POST_MANY_CALL = PreparedCall(read_sql("ledger/post_many.sql"))
# Ledger._post_arguments gives post.sql's arguments in this order (checked here, at import).
_POST_ARGUMENTS = ("transaction_id", "idempotency_key", "status", "effective_at", "content_hash", "accounts",
                   "directions", "amounts", "currencies", "lock_versions", "condition_legs", "condition_balances",
                   "condition_ops", "condition_amounts", "reference", "source_event_id", "source_event_type",
                   "batch_id", "description", "metadata", "source")
if _POST_CALL.names != _POST_ARGUMENTS:
    raise RuntimeError(f"sql/ledger/post.sql names {_POST_CALL.names}; Ledger._post_arguments gives {_POST_ARGUMENTS}")

# Postings per ledger.post_many call: each that writes takes a subtransaction id, and a database
# transaction holding more than 64 of them slows every other session's snapshots while it runs.
MAX_BATCH = 64


class Ledger:
    """The ledger's write and read API over one psycopg connection (the writer role).

    ``actor`` is recorded in the audit log for every administrative action.

    Every operation is its own database transaction, committed before the method returns. So
    that reads on the same connection between operations do not leave a transaction open (which
    would turn the next operation into a savepoint of it, committed only if the caller commits),
    an idle connection is switched to autocommit; an operation started while the connection is
    inside a transaction opened elsewhere raises :class:`ConnectionInTransaction`.

    One thread at a time: operations from several threads on one connection would share its
    transactions (and the statements prepared on it, PreparedCalls). Give each thread its own connection and
    ``Ledger``, as the recording service does (one per pooled connection).
    """

    def __init__(self, conn: psycopg.Connection, actor: str = "subledger", max_attempts: int = 5):
        self.conn = conn
        self.actor = actor
        self.max_attempts = max_attempts
        self._account_types: dict[str, str] | None = None
        # The posting calls, prepared on this connection and sent through libpq directly
        # (ledger_pipelines/postgres/prepared.py: psycopg's cursor cost a posting ~40 us of client CPU).
        self._calls = PreparedCalls(conn)
        if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.autocommit = True

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def account_types(self) -> dict[str, str]:
        """``ledger.account_types`` (read once): a new account's type is checked before posting to it."""
        if self._account_types is None:
            with self._transaction():
                self._account_types = load_account_types(self.conn)
        return self._account_types

    def _idle(self) -> None:
        status = self.conn.pgconn.transaction_status  # libpq's, not conn.info's (a new object per read)
        if status != TransactionStatus.IDLE:
            raise ConnectionInTransaction(
                f"connection transaction_status={TransactionStatus(status).name}: the connection given to Ledger is "
                "inside a database transaction opened elsewhere, so this operation's writes would commit or roll back "
                "with it. "
                "Commit or roll back first, or give Ledger a connection in autocommit mode."
            )

    @contextmanager
    def _transaction(self, reason: str | None = None) -> Iterator[psycopg.Connection]:
        """One database transaction with the audit actor (and reason) set; guards -> typed errors."""
        self._idle()
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

    def _call(self, call: PreparedCall, arguments: Sequence[str | None]) -> list[tuple]:
        """One posting function's call: one round trip (autocommit) or, on a connection the caller
        switched back from autocommit, its own committed transaction; guards -> typed errors."""
        self._idle()
        calls = self._calls
        for attempt in (1, 2):
            calls.prepare(call)  # here, outside any transaction block (PreparedCalls.prepare)
            try:
                if self.conn.autocommit:
                    return calls.rows(call, arguments)
                with self.conn.transaction():
                    return calls.rows(call, arguments)
            except pg_errors.InvalidSqlStatementName:
                # The connection lost its prepared statements (a pool's DISCARD ALL): the server
                # refused the call before running it, so it is made again and sent once more.
                calls.forget(call)
                if attempt == 2:
                    raise
            except psycopg.Error as exc:
                typed = translate(exc)
                if typed is not None:
                    raise typed from exc
                raise
        raise AssertionError("unreachable")

    def _retrying(self, operation: Callable[[], T], unique_columns: tuple[str, ...]) -> T:
        """Run ``operation`` (one database transaction) again after a deadlock or serialization
        failure, and once more after a concurrent writer committed one of ``unique_columns``
        first (the next call answers as a replay, or refuses)."""
        raced, attempt = False, 0
        while True:
            attempt += 1
            try:
                return operation()
            except RETRYABLE:
                if attempt >= self.max_attempts:
                    raise
                time.sleep(0.01 * 2**attempt)
            except pg_errors.UniqueViolation as exc:
                if raced or not any(column in str(exc) for column in unique_columns):
                    raise
                raced = True

    # -- writes --------------------------------------------------------------------------------
    def post(self, tx: NewTransaction, *, batch_id: str | None = None) -> PostedTransaction:
        """Post (or hold pending) one balanced transaction.

        Idempotent: the same key with the same content returns the stored transaction
        (``created=False``); with different content raises :class:`IdempotencyConflict`.
        Raises :class:`VersionConflict` if a leg's ``lock_version`` is stale and
        :class:`BalanceConditionFailed` if a condition would not hold afterwards; then nothing
        is written. A new posting's ``balances`` are its accounts' balances right after it.
        """
        arguments = self._post_arguments(tx, batch_id)
        row = self._retrying(lambda: self._call(_POST_CALL, arguments)[0], ("idempotency_key",))
        return _posted(tx, row)

    def post_many(self, txs: Sequence[NewTransaction], *, batch_id: str | None = None) -> list[PostedTransaction | LedgerError]:
        """Post several transactions with one call and one commit per :data:`MAX_BATCH` of them,
        each with its own outcome, in the order given: a :class:`PostedTransaction` (as
        :meth:`post` returns it, ``created=False`` for a replay) or the :class:`LedgerError`
        :meth:`post` would have raised for it (e.g. :class:`BalanceConditionFailed`), which wrote
        nothing and did not stop the others.

        For many postings to one hot account (roadmap 4.1): one at a time, the account's balance
        row stays locked until each commit is flushed, so it takes one posting per flush; here the
        postings of a call share one lock wait and one flush (``ledger.post_many``; what that gives
        under concurrency: bench/README.md). A posting's balances are its accounts' right after
        it, the ones before it in the call included.
        A transaction that cannot be built (e.g. an unknown account type) raises before anything
        is written; a deadlock or serialization failure runs the whole call again.
        """
        params = [_json_params(self._post_params(tx, batch_id)) for tx in txs]  # raises before any call
        outcomes: list[PostedTransaction | LedgerError] = []
        for start in range(0, len(txs), MAX_BATCH):
            postings = [json.dumps(params[start:start + MAX_BATCH])]
            rows = self._retrying(lambda postings=postings: self._call(_POST_MANY_CALL, postings), ())
            for tx, row in zip(txs[start:start + MAX_BATCH], rows, strict=True):
                sqlstate, message, detail, hint = row[-4:]
                if sqlstate is None:
                    outcomes.append(_posted(tx, row[1:-4]))
                else:
                    outcomes.append(refusal(sqlstate, message, detail, hint)
                                    or _unmapped_refusal(sqlstate, message, detail, hint))
        return outcomes

    def _post_arguments(self, tx: NewTransaction, batch_id: str | None) -> list[str | None]:
        """``ledger.post_transaction``'s arguments for ``tx`` as ``Ledger.post`` sends them: texts,
        in the order of :data:`_POST_ARGUMENTS`, each array one literal (:func:`small_array_literal`;
        what :class:`Leg` has checked -- a direction is debit or credit, a currency three letters,
        an amount an int -- joined without quoting). NULL, not an empty array, for what most
        postings do not use."""
        accounts, directions, amounts, currencies, lock_versions, conditions = self._leg_columns(tx)
        effective_at = as_text(tx.effective_at)  # in UTC, as the content hash reads it
        return [
            uuid7_text(), tx.idempotency_key, tx.status, effective_at, tx._content_hash(effective_at),
            text_array_literal(accounts), "{" + ",".join(directions) + "}", "{" + ",".join(map(str, amounts)) + "}",
            "{" + ",".join(currencies) + "}",
            small_array_literal(lock_versions) if lock_versions.count(None) < len(lock_versions) else None,
            *(_condition_literals(conditions) if conditions else (None,) * 4),
            as_text(tx.reference), as_text(tx.source_event_id), as_text(tx.source_event_type), as_text(batch_id),
            as_text(tx.description), json.dumps(tx.metadata) if tx.metadata else None,
            json.dumps(tx.source) if tx.source is not None else None,
        ]

    def _leg_columns(self, tx: NewTransaction) -> tuple[list[str], list[str], list[int], list[str], list[int | None],
                                                           list[tuple[int, Condition]]]:
        """``tx``'s legs as columns (account, direction, amount, currency, lock_version) and its
        conditions with the number (1-based) of their leg; an unknown account type is refused
        here, typed, before anything is sent. One pass over the legs: this runs for every posting."""
        types = self.account_types
        accounts, directions, amounts, currencies, lock_versions = [], [], [], [], []
        conditions: list[tuple[int, Condition]] = []
        for number, leg in enumerate(tx.legs, 1):
            normal_balance_of(leg.account, types)
            accounts.append(leg.account)
            directions.append(leg.direction)
            amounts.append(leg.amount)
            currencies.append(leg.currency)
            lock_versions.append(leg.lock_version)
            if leg.conditions:
                conditions.extend((number, condition) for condition in leg.conditions)
        return accounts, directions, amounts, currencies, lock_versions, conditions

    def _post_params(self, tx: NewTransaction, batch_id: str | None) -> dict[str, Any]:
        """``ledger.post_transaction``'s parameters for ``tx`` (by name, without ``p_``), typed, as
        ``Ledger.post_many`` sends them in its JSON."""
        accounts, directions, amounts, currencies, lock_versions, conditions = self._leg_columns(tx)
        return {
            "transaction_id": uuid7_text(),
            "idempotency_key": tx.idempotency_key,
            "status": tx.status,
            "effective_at": tx.effective_at,
            "content_hash": tx.content_hash(),
            "accounts": accounts,
            "directions": directions,
            "amounts": amounts,
            "currencies": currencies,
            "lock_versions": lock_versions if lock_versions.count(None) < len(lock_versions) else None,
            "condition_legs": [number for number, _ in conditions] if conditions else None,
            "condition_balances": [condition.balance for _, condition in conditions] if conditions else None,
            "condition_ops": [condition.op for _, condition in conditions] if conditions else None,
            "condition_amounts": [condition.amount for _, condition in conditions] if conditions else None,
            "reference": tx.reference,
            "source_event_id": tx.source_event_id,
            "source_event_type": tx.source_event_type,
            "batch_id": batch_id,
            "description": tx.description,
            "metadata": Jsonb(tx.metadata) if tx.metadata else None,
            "source": Jsonb(tx.source) if tx.source is not None else None,
        }

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

        ``at`` is the business time of the move (``posted_at``/``archived_at``, default now), never
        before the transaction's ``effective_at``; entries keep their ``effective_at``. With a
        ``transition_key``, repeating the same move is a no-op. Anything but pending ->
        posted/archived raises :class:`InvalidTransition`.
        """
        if to_status not in ("posted", "archived"):
            raise InvalidTransition(f"to_status={to_status!r}: a pending transaction moves to 'posted' or 'archived'.")
        at = at or datetime.now(UTC)
        if at.tzinfo is None:
            raise InvalidTransaction("at", at, "has no time zone", "Pass an aware datetime, e.g. in UTC.")
        params = {"target": target, "target_id": _as_uuid(target), "to_status": to_status, "at": at,
                  "transition_key": transition_key, "transition_hash": transition_hash, "actor": self.actor,
                  "reason": reason}
        arguments = _MOVE_CALL.arguments(params)
        transaction_id, key, status, created = self._retrying(lambda: self._call(_MOVE_CALL, arguments)[0],
                                                              ("transition_key",))
        return PostedTransaction(transaction_id, key, status, created=created)

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
        params = {"transaction_id": uuid7_text(), "idempotency_key": idempotency_key, "target": target,
                  "target_id": _as_uuid(target), "effective_at": at, "content_hash": content_hash, "reason": reason,
                  "metadata": Jsonb(metadata or {}), "batch_id": batch_id, "actor": self.actor}
        arguments = _REVERSE_CALL.arguments(params)
        # A concurrent writer may commit this key or a reversal of the target first: the next
        # call answers as a replay (same key) or refuses a second reversal.
        transaction_id, status, created = self._retrying(
            lambda: self._call(_REVERSE_CALL, arguments)[0], ("idempotency_key", "transactions_reversed_once"))
        return PostedTransaction(transaction_id, idempotency_key, status, created=created)

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


def _posted(tx: NewTransaction, row: Sequence) -> PostedTransaction:
    """What ``ledger.post_transaction`` returned for ``tx`` (transaction id, status, created, then
    per (account, currency) the balance after it, as columns), as a :class:`PostedTransaction`."""
    return PostedTransaction(row[0], tx.idempotency_key, row[1], row[2], row[3:] if row[2] else ())


def _condition_literals(conditions: list[tuple[int, Condition]]) -> tuple[str, str, str, str]:
    """The four condition arrays of ``ledger.post_transaction`` (leg number, balance, operator,
    bound) as literals, in one pass; :class:`Condition` has checked each part (a balance and an
    operator are known words, a bound an int), so nothing needs quoting."""
    numbers, balances, ops, bounds = [], [], [], []
    for number, condition in conditions:
        numbers.append(str(number))
        balances.append(condition.balance)
        ops.append(condition.op)
        bounds.append(str(condition.amount))
    return ("{" + ",".join(numbers) + "}", "{" + ",".join(balances) + "}", "{" + ",".join(ops) + "}",
            "{" + ",".join(bounds) + "}")


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """:meth:`Ledger._post_params` as JSON values (``ledger.post_many`` reads them back typed)."""
    return {name: (value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, uuid.UUID)
                   else value.obj if isinstance(value, Jsonb) else value)
            for name, value in params.items()}


def _unmapped_refusal(sqlstate: str, message: str, detail: str | None, hint: str | None) -> LedgerError:
    """A posting of ``post_many`` refused by a database check that has no typed error of its own
    (e.g. a CHECK constraint, SQLSTATE 23514): the database's words, with its SQLSTATE."""
    error = LedgerError(" ".join(part for part in (f"{message}.", detail, hint) if part))
    error.sqlstate = sqlstate
    return error


def _as_uuid(target: str) -> str | None:
    """``target`` as a transaction id when it is one (a target is named by idempotency key or id)."""
    try:
        return str(uuid.UUID(target))
    except ValueError:
        return None


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
