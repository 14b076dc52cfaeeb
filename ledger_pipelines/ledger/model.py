"""The ledger's vocabulary: legs, conditions and transactions (balances: :mod:`ledger_pipelines.accounting.balances`).

Amounts are Python ``int`` minor units and always positive on a leg; the direction says which
side. A transaction balances when, per currency, its debit amounts equal its credit amounts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import repeat
from json.encoder import encode_basestring_ascii as _json_text  # json.dumps's own string encoder
from typing import Literal

from ledger_pipelines.accounting.accounts import validate_account_code
from ledger_pipelines.accounting.balances import BALANCE_KINDS, Balance, BalanceKind
from ledger_pipelines.accounting.errors import InvalidTransaction, UnbalancedTransaction
from ledger_pipelines.accounting.money import is_alpha3

Direction = Literal["debit", "credit"]
Status = Literal["pending", "posted", "archived"]
ConditionOp = Literal["gte", "lte", "eq"]

INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Condition:
    """A bound on an account's balance *after* the transaction, e.g. available >= 0."""

    balance: BalanceKind
    op: ConditionOp
    amount: int

    def __post_init__(self) -> None:
        if self.balance not in BALANCE_KINDS:
            raise InvalidTransaction("conditions.balance", self.balance, "unknown balance", "Use posted, pending or available.")
        if self.op not in ("gte", "lte", "eq"):
            raise InvalidTransaction("conditions.op", self.op, "unknown operator", "Use gte, lte or eq.")
        if type(self.amount) is not int or not -INT64_MAX - 1 <= self.amount <= INT64_MAX:
            raise InvalidTransaction("conditions.amount", self.amount, "not a 64-bit integer", "Give the bound in integer minor units.")

    def holds(self, value: int) -> bool:
        if self.op == "gte":
            return value >= self.amount
        if self.op == "lte":
            return value <= self.amount
        return value == self.amount


@dataclass(frozen=True)
class Leg:
    """One side of a transaction on one account, in one currency."""

    account: str
    direction: Direction
    amount: int
    currency: str
    conditions: tuple[Condition, ...] = ()
    lock_version: int | None = None

    def __post_init__(self) -> None:
        validate_account_code(self.account)
        if self.direction not in ("debit", "credit"):
            raise InvalidTransaction("direction", self.direction, "a leg is a debit or a credit", "Use 'debit' or 'credit'.")
        if type(self.amount) is not int:
            raise InvalidTransaction("amount", self.amount, "money is an integer number of minor units", "Send e.g. 1050 for 10.50 USD.")
        if not 0 < self.amount <= INT64_MAX:
            raise InvalidTransaction("amount", self.amount, "a leg amount must be > 0 and fit in 64 bits", "Use the direction for the sign.")
        if not is_alpha3(self.currency):
            raise InvalidTransaction("currency", self.currency, "not an ISO 4217 alpha-3 code", "Use upper-case codes such as USD, EUR, JPY.")
        if self.lock_version is not None and (type(self.lock_version) is not int or self.lock_version < 0):
            raise InvalidTransaction("lock_version", self.lock_version, "not a version number", "Pass the account's lock_version as read.")

    @property
    def signed_debit(self) -> int:
        """+amount for a debit, -amount for a credit."""
        return self.amount if self.direction == "debit" else -self.amount


@dataclass(frozen=True)
class NewTransaction:
    """A transaction to post. ``idempotency_key`` makes posting it again a no-op."""

    idempotency_key: str
    legs: tuple[Leg, ...]
    effective_at: datetime
    status: Literal["posted", "pending"] = "posted"
    description: str | None = None
    reference: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    source_event_id: str | None = None
    source_event_type: str | None = None
    source: dict | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.idempotency_key, str) or not 1 <= len(self.idempotency_key) <= 512:
            raise InvalidTransaction("idempotency_key", self.idempotency_key, "must be 1-512 characters", "Use the source event id.")
        if not isinstance(self.effective_at, datetime):
            raise InvalidTransaction("effective_at", self.effective_at, "is not a datetime", "Pass an aware datetime, e.g. in UTC.")
        if self.effective_at.tzinfo is None or self.effective_at.utcoffset() is None:
            raise InvalidTransaction("effective_at", self.effective_at, "has no time zone", "Pass an aware datetime, e.g. in UTC.")
        if not isinstance(self.metadata, dict) or self.metadata and not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.metadata.items()):
            raise InvalidTransaction("metadata", self.metadata, "must map strings to strings", "Convert the values to text, e.g. {'plan': 'pro'}.")
        if self.status not in ("posted", "pending"):
            raise InvalidTransaction("status", self.status, "a new transaction is posted or pending", "Archive it after posting it pending.")
        if len(self.legs) < 2:
            raise InvalidTransaction("legs", len(self.legs), "a transaction needs at least two legs", "Add the balancing leg.")
        nets: dict[str, int] = {}  # per currency, debits minus credits
        for leg in self.legs:
            nets[leg.currency] = nets.get(leg.currency, 0) + (leg.amount if leg.direction == "debit" else -leg.amount)
        if any(nets.values()):
            unbalanced = {c: n for c, n in nets.items() if n}
            detail = ", ".join(f"{c}: debits - credits = {n}" for c, n in sorted(unbalanced.items()))
            raise UnbalancedTransaction(
                f"transaction {self.idempotency_key!r} does not balance ({detail}). "
                "Per currency, debit amounts must equal credit amounts."
            )

    def content_hash(self) -> str:
        """A stable hash of what the transaction says (legs, dates, status, texts): SHA-256 of
        :meth:`content_document`.

        Its text is spelled out here, not left to ``json.dumps`` of a dict: that took ~10 us of
        the ~50 us a single posting costs its client (bench/README.md, issue 16). It is the very
        text ``json.dumps(content_document(), sort_keys=True, default=str)`` gives, so hashes
        stored before stay comparable (tests/unit/test_content_hash.py)."""
        return self._content_hash(self.effective_at.astimezone(UTC).isoformat())

    def _content_hash(self, effective_at_utc: str) -> str:
        """:meth:`content_hash` given ``effective_at`` in UTC as ISO text, which ``Ledger.post``
        sends as well (computed once)."""
        # A direction, a currency and the status need no escaping: __post_init__ has checked them
        # (debit/credit, three upper-case ASCII letters, posted/pending).
        legs = ", ".join([f'[{_json_text(leg.account)}, "{leg.direction}", {leg.amount}, "{leg.currency}"]'
                          for leg in self.legs])
        text = (
            f'{{"description": {_json_value(self.description)}, '
            f'"effective_at": {_json_text(effective_at_utc)}, "legs": [{legs}], '
            f'"metadata": {_json_value(self.metadata)}, "reference": {_json_value(self.reference)}, '
            f'"source": {_json_value(self.source)}, "status": "{self.status}"}}'
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def content_document(self) -> dict:
        """What the content hash covers, as a JSON document (keys in any order: the hash sorts them)."""
        return {
            "legs": [[leg.account, leg.direction, leg.amount, leg.currency] for leg in self.legs],
            # The instant, not its spelling: 12:00+02:00 and 10:00Z are the same transaction.
            "effective_at": self.effective_at.astimezone(UTC).isoformat(),
            "status": self.status,
            "description": self.description,
            "reference": self.reference,
            "metadata": self.metadata,
            "source": self.source,
        }


def _json_value(value: object) -> str:
    """``value`` as ``json.dumps(..., sort_keys=True, default=str)`` writes it inside a document."""
    if value is None:
        return "null"
    if type(value) is str:
        return _json_text(value)
    if type(value) is dict and not value:
        return "{}"
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class PostedTransaction:
    """What the ledger holds for a transaction after a write."""

    transaction_id: str
    idempotency_key: str
    status: Status
    created: bool  # False when the idempotency key already held this same transaction
    # Ledger.post of a new transaction: the columns ledger.post_transaction returned per (account,
    # currency) it touched -- codes, currencies, normal balances, the four sums, versions and the
    # accounts' lock_versions -- which `balances` reads; empty otherwise.
    balance_columns: tuple[Sequence, ...] = field(default=(), compare=False, repr=False)

    @cached_property
    def balances(self) -> tuple[Balance, ...]:
        """Each (account, currency) a new transaction touched, as it stood right after it (the
        four sums, version and the account's lock_version); empty for a replay or a move. Built
        when first read: a writer that posts and moves on never pays for them (a few
        microseconds of a single posting's client CPU, issue 16)."""
        if not self.balance_columns:
            return ()
        codes, currencies, normals, pds, pcs, qds, qcs, versions, lock_versions = self.balance_columns
        return tuple(map(Balance, codes, currencies, normals, pds, pcs, qds, qcs, versions, repeat(None), lock_versions))
