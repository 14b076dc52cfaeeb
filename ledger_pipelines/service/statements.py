"""An account's statement from Postgres: opening balance, entries with running balance, closing.

The balance is the *posted* balance of the contract. An entry counts from the moment its
transaction is posted and effective (``greatest(effective_at, posted_at)``: a payment held pending
counts when it settles; archived ones never), exactly as :func:`ledger_pipelines.ledger.balances.balances`
counts it as of a time, so ``opening + lines = closing`` where both ends come from that function.
Pages are keyset-paginated; a page's first running balance adds the lines before it in SQL.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from ledger_pipelines.accounting.balances import signed_amount, signed_entry
from ledger_pipelines.ledger.balances import balance, get_account
from ledger_pipelines.ledger.ids import account_id
from ledger_pipelines.paths import read_sql

BEGINNING = datetime(1, 1, 2, tzinfo=UTC)  # before anything the ledger can hold
_START = (datetime(1, 1, 1, tzinfo=UTC), "00000000-0000-0000-0000-000000000000", -1)


class StatementError(ValueError):
    """The statement cannot be made as asked (unknown account, ambiguous currency, bad cursor)."""

    def __init__(self, reason_code: str, message: str):
        self.reason_code = reason_code
        super().__init__(message)


@dataclass(frozen=True)
class Statement:
    account: str
    currency: str
    normal_balance: str
    start: datetime
    end: datetime
    opening_balance: int
    closing_balance: int
    entries: list[dict[str, object]]
    next_cursor: str | None

    def as_json(self) -> dict[str, object]:
        return {"account": self.account, "currency": self.currency, "normal_balance": self.normal_balance,
                "from": None if self.start == BEGINNING else self.start.isoformat(), "to": self.end.isoformat(),
                "opening_balance": self.opening_balance, "closing_balance": self.closing_balance,
                "entries": self.entries, "next_cursor": self.next_cursor}


def statement(conn: psycopg.Connection, account: str, *, currency: str | None, start: datetime | None, end: datetime | None,
              limit: int, cursor: str | None) -> Statement:
    """The posted-balance statement of ``account`` for (``start``, ``end``]; see the module docs."""
    info = get_account(conn, account)
    if info is None:
        raise StatementError("unknown_account", f"account {account!r} does not exist; check the code (it is compared exactly).")
    ident = str(account_id(account))
    if currency is None:
        held = [r[0] for r in conn.execute(read_sql("service/account_currencies.sql"), {"account_id": ident}).fetchall()]
        if len(held) > 1:
            raise StatementError("currency_required", f"account {account!r} holds {', '.join(held)}; name one with ?currency=.")
        currency = held[0] if held else (info.currency or "")
    start = start or BEGINNING
    end = end or datetime.now(UTC)
    opening = balance(conn, account, currency, as_of=start).posted if start > BEGINNING else 0
    closing = balance(conn, account, currency, as_of=end).posted
    after = _decode(cursor) if cursor else _START
    params = {"account_id": ident, "currency": currency, "from": start, "to": end,
              "after_at": after[0], "after_tx": after[1], "after_no": after[2], "limit": limit + 1}
    running = opening
    if cursor:
        net_debits = int(conn.execute(read_sql("service/statement_sum.sql"), params).fetchone()[0])
        running += signed_amount(info.normal_balance, net_debits, 0)
    rows = conn.execute(read_sql("service/statement_lines.sql"), params).fetchall()
    entries = []
    for counted_at, tx, entry_no, effective_at, posted_at, direction, amount, key, description, kind, reference in rows[:limit]:
        running += signed_entry(info.normal_balance, direction, amount)
        entries.append({"transaction_id": tx, "entry_no": entry_no, "idempotency_key": key, "counted_at": counted_at.isoformat(),
                        "effective_at": effective_at.isoformat(), "posted_at": posted_at.isoformat(), "direction": direction,
                        "amount": amount, "running_balance": running, "description": description, "event_type": kind,
                        "reference": reference})
    next_cursor = _encode(rows[limit - 1][0], rows[limit - 1][1], rows[limit - 1][2]) if len(rows) > limit else None
    return Statement(account, currency, info.normal_balance, start, end, opening, closing, entries, next_cursor)


def _encode(at: datetime, transaction_id: str, entry_no: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), transaction_id, entry_no]).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str, int]:
    try:
        at, transaction_id, entry_no = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), str(transaction_id), int(entry_no)
    except (ValueError, TypeError) as exc:
        raise StatementError("invalid_cursor", "the cursor is not one this API returned; start again without it.") from exc
