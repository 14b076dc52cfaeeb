"""Accounts in the ledger database: the configured account types, creation on first use, groups.

What a valid code is and which normal balance a type gives is the rule of
:mod:`ledger_pipelines.accounting.accounts`; this module applies it to the database
(``ledger.account_types``, ``ledger.accounts``, ``ledger.categories``), in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl
import psycopg

from ledger_pipelines.accounting.accounts import NORMAL_BALANCES, account_type_problem, normal_balance_of, validate_account_code
from ledger_pipelines.accounting.errors import CategoryError, InvalidTransaction
from ledger_pipelines.ledger.ids import account_id_column
from ledger_pipelines.paths import read_sql


def load_account_types(conn: psycopg.Connection) -> dict[str, str]:
    """Top-level segment -> normal balance, as configured in ``ledger.account_types``."""
    return dict(conn.execute("SELECT top_segment, normal_balance FROM ledger.account_types").fetchall())


def sync_account_types(conn: psycopg.Connection, account_types: Mapping[str, str]) -> list[str]:
    """Add the configured account types (posting rules' ``account_types``) the ledger lacks.

    The ledger decides an account's normal balance from ``ledger.account_types``, so a type the
    rules file adds must be there before anything posts to it. A type the ledger already has
    keeps its normal balance: accounts and reports are signed by it, so a rules file that says
    otherwise is refused (:class:`InvalidTransaction`, naming the type). Runs as the owner (the
    writer cannot change the ledger's configuration), in the caller's transaction. Returns the
    added top-level segments.
    """
    known = load_account_types(conn)
    for top, normal in sorted(account_types.items()):
        problem = account_type_problem(top)
        if problem:
            raise InvalidTransaction("account_types", top, problem, "Name account types like 'assets' or 'contra' in the rules file.")
        if normal not in NORMAL_BALANCES:
            raise InvalidTransaction("account_types", f"{top}: {normal}", "the normal balance is 'debit' or 'credit'",
                                     "Fix the rules file.")
        if top in known and known[top] != normal:
            raise InvalidTransaction(
                "account_types", f"{top}: {normal}", f"the ledger's type {top!r} is {known[top]}-normal, and its accounts "
                "and reports are signed that way", f"Keep '{top}: {known[top]}' in the rules file, or post to a new type.",
            )
    added = sorted(top for top in account_types if top not in known)
    if added:
        conn.execute(
            "INSERT INTO ledger.account_types (top_segment, normal_balance) "
            "SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT (top_segment) DO NOTHING",
            [added, [account_types[top] for top in added]],
        )
    return added


def ensure_accounts(conn: psycopg.Connection, codes: Iterable[str], account_types: Mapping[str, str] | None = None) -> None:
    """Create the accounts that do not exist yet (set-based, idempotent, race-free).

    Raises :class:`InvalidTransaction` for an invalid code or an unknown top-level segment
    before writing anything.
    """
    unique = sorted(set(codes))
    if not unique:
        return
    types = account_types if account_types is not None else load_account_types(conn)
    normal = [normal_balance_of(validate_account_code(code), types) for code in unique]
    ids = account_id_column(pl.Series(unique, dtype=pl.Utf8)).to_list()
    conn.execute(read_sql("ledger/ensure_accounts.sql"), {"ids": ids, "codes": unique, "normal": normal})


# -- group categories (plan, region, ...): configured, nestable, audited by database triggers ----
def _category(conn: psycopg.Connection, code: str) -> tuple | None:
    return conn.execute(
        "SELECT code, kind, parent_code, normal_balance, description FROM ledger.categories WHERE code = %s", [code]
    ).fetchone()


def create_category(conn: psycopg.Connection, code: str, *, parent: str | None = None, normal_balance: str | None = None,
                    description: str | None = None) -> bool:
    """Create the group category ``code`` (under ``parent``); return False if it exists as asked.

    Runs in the caller's transaction; the database audits the creation (``category.created``).
    """
    validate_account_code(code)
    if normal_balance not in (None, "debit", "credit"):
        raise CategoryError("normal_balance", normal_balance, "a category is debit- or credit-normal", "Use 'debit', 'credit' or leave it out.")
    existing = _category(conn, code)
    if existing is not None:
        if existing[1] != "group":
            raise CategoryError("code", code, "is the path category of existing accounts", "Name the group differently, e.g. 'plan:pro'.")
        if (existing[2], existing[3]) != (parent, normal_balance):
            raise CategoryError("code", code, f"exists with parent {existing[2]!r} and normal balance {existing[3]!r}",
                                "Use set_category_parent to move it, or pick another code.")
        return False
    if parent is not None:
        _require_group(conn, parent, "parent")
    conn.execute(
        "INSERT INTO ledger.categories (code, kind, parent_code, normal_balance, description) VALUES (%s, 'group', %s, %s, %s)",
        [code, parent, normal_balance, description],
    )
    return True


def _require_group(conn: psycopg.Connection, code: str, field: str) -> None:
    found = _category(conn, code)
    if found is None or found[1] != "group":
        raise CategoryError(field, code, "is not a group category", "Create it first with create_category.")


def set_category_parent(conn: psycopg.Connection, code: str, parent: str | None) -> None:
    """Nest the group ``code`` under ``parent`` (None: top level); refuses cycles. Audited (``category.changed``)."""
    _require_group(conn, code, "code")
    if parent is not None:
        _require_group(conn, parent, "parent")
        # Lock the group rows so two concurrent re-parentings cannot build a cycle together.
        conn.execute("SELECT 1 FROM ledger.categories WHERE kind = 'group' ORDER BY code FOR UPDATE")
        cycle = conn.execute(
            """
            WITH RECURSIVE up AS (
                SELECT code, parent_code FROM ledger.categories WHERE code = %(parent)s
                UNION
                SELECT c.code, c.parent_code FROM ledger.categories c JOIN up ON c.code = up.parent_code
            ) SELECT 1 FROM up WHERE code = %(code)s
            """,
            {"parent": parent, "code": code},
        ).fetchone()
        if cycle:
            raise CategoryError("parent", parent, f"is {code!r} itself or nested under it", "Pick a parent outside this group.")
    conn.execute("UPDATE ledger.categories SET parent_code = %s WHERE code = %s", [parent, code])


def add_to_category(conn: psycopg.Connection, code: str, accounts: Iterable[str]) -> int:
    """Make existing ``accounts`` members of the group ``code``; return how many were added. Audited."""
    _require_group(conn, code, "code")
    wanted = sorted(set(accounts))
    known = {r[0] for r in conn.execute("SELECT code FROM ledger.accounts WHERE code = ANY (%s)", [wanted]).fetchall()}
    missing = [a for a in wanted if a not in known]
    if missing:
        raise CategoryError("accounts", missing, "no such accounts", "Post to them (or create them) first.")
    return conn.execute(
        "INSERT INTO ledger.category_members (category_code, account_id) "
        "SELECT %s, account_id FROM ledger.accounts WHERE code = ANY (%s) ORDER BY account_id ON CONFLICT DO NOTHING",
        [code, wanted],
    ).rowcount


def remove_from_category(conn: psycopg.Connection, code: str, accounts: Iterable[str]) -> int:
    """Remove ``accounts`` from the group ``code``; return how many were members. Audited."""
    _require_group(conn, code, "code")
    return conn.execute(
        "DELETE FROM ledger.category_members m USING ledger.accounts a "
        "WHERE m.account_id = a.account_id AND m.category_code = %s AND a.code = ANY (%s)",
        [code, sorted(set(accounts))],
    ).rowcount
