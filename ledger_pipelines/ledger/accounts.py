"""Accounts: code paths, normal balances, creation on first use.

An account is named by a ``:``-separated code path (``assets:receivables:sub_42``): 1 to 32
segments of 1 to 64 printable characters other than ``:``, in any script, in Unicode NFC, stored
verbatim and compared exactly (invisible and direction-changing characters and un-normalised
forms are refused, so two codes never look the same). Every prefix of the path is a category. The top-level segment sets the normal
balance (``ledger.account_types``: assets and expenses are debit-normal; liabilities, equity,
revenue and income credit-normal; more can be configured).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

import polars as pl
import psycopg

from ledger_pipelines.ledger.errors import InvalidTransaction
from ledger_pipelines.ledger.ids import account_id_column
from ledger_pipelines.paths import read_sql

MAX_SEGMENTS = 32
MAX_SEGMENT_LENGTH = 64
# Unicode categories refused in a code: controls, invisible format characters (zero-width space
# and joiners, soft hyphen, byte-order mark, bidirectional marks, overrides and isolates: they make
# one code display as another), surrogates, private use, unassigned, line/paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# The same, as a Polars (Rust) regex for the vectorised checks (a valid UTF-8 string holds no surrogate).
BAD_CODE_CHARACTERS = r"[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]"


def account_code_problem(code: object) -> str | None:
    """Why ``code`` is not a valid account code, or None if it is.

    The one definition of the rule in Python (the front end's vectorised check,
    :func:`account_code_expr_problem`, and the rules-file check use it; the database keeps the
    same rule in ``ledger.is_valid_account_code``): 1-32 segments of 1-64 characters, no refused
    character, and Unicode NFC, so that two codes that look the same are the same string.
    """
    if not isinstance(code, str):
        return f"an account code must be text, not {type(code).__name__}"
    if not unicodedata.is_normalized("NFC", code):
        return ("it is not in Unicode NFC (a letter and a combining accent instead of the accented letter); "
                "send the code NFC-normalised")
    segments = code.split(":")
    if len(segments) > MAX_SEGMENTS:
        return f"it has {len(segments)} segments; at most {MAX_SEGMENTS} are allowed"
    for position, segment in enumerate(segments, start=1):
        if not segment:
            return f"segment {position} is empty (two ':' in a row, or a ':' at an end)"
        if len(segment) > MAX_SEGMENT_LENGTH:
            return f"segment {position} has {len(segment)} characters; at most {MAX_SEGMENT_LENGTH} are allowed"
        for char in segment:
            if unicodedata.category(char) in _REFUSED_CATEGORIES:
                return f"segment {position} contains the non-printable or invisible character U+{ord(char):04X}"
    return None


def account_type_problem(top: object) -> str | None:
    """Why ``top`` cannot be an account type (a top-level segment), or None.

    A type is one valid segment in lower case: ``Equity:x`` is refused, never folded to ``equity``.
    """
    problem = account_code_problem(top)
    if problem:
        return problem
    assert isinstance(top, str)
    if ":" in top:
        return "a type is one top-level segment, without ':'"
    if top != top.lower():
        return f"account types are lower case ({top.lower()!r}, not {top!r})"
    return None


def account_code_expr_problem(code: pl.Expr, account_types: Mapping[str, str]) -> pl.Expr:
    """:func:`account_code_problem` plus the account-type check, vectorised: why each code is not a
    valid account code under a configured type (text for a message), or null when it is valid."""
    segments = code.str.split(":")
    top = segments.list.first()
    longest = segments.list.eval(pl.element().str.len_chars()).list.max()
    known = ", ".join(sorted(account_types))
    return (
        pl.when(code.is_null()).then(None)
        .when(code.str.contains(BAD_CODE_CHARACTERS))
        .then(pl.format("it contains the non-printable, invisible or direction-changing character at position {} "
                        "(control, zero-width and bidirectional characters are refused because they make codes look alike)",
                        code.str.find(BAD_CODE_CHARACTERS) + 1))
        .when(code.str.normalize("NFC") != code)
        .then(pl.lit("it is not in Unicode NFC (a letter and a combining accent instead of the accented letter); send the "
                     "code NFC-normalised"))
        .when(segments.list.eval(pl.element().str.len_chars() == 0).list.any())
        .then(pl.lit("it has an empty segment (two ':' in a row, or a ':' at either end)"))
        .when(segments.list.len() > MAX_SEGMENTS)
        .then(pl.format("it has {} segments; at most {} are allowed", segments.list.len(), pl.lit(MAX_SEGMENTS)))
        .when(longest > MAX_SEGMENT_LENGTH)
        .then(pl.format("a segment has {} characters; at most {} are allowed", longest, pl.lit(MAX_SEGMENT_LENGTH)))
        .when(~top.is_in(sorted(account_types)))
        .then(pl.format("its top-level segment \"{}\" is not an account type ({}; types are lower case)", top, pl.lit(known)))
    )


def validate_account_code(code: object) -> str:
    problem = account_code_problem(code)
    if problem:
        raise InvalidTransaction(
            "account", code, problem, "Name accounts like 'assets:receivables:sub_42' (1-32 segments of 1-64 printable characters)."
        )
    return code  # type: ignore[return-value]


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
        if normal not in ("debit", "credit"):
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


def normal_balance_of(code: str, account_types: Mapping[str, str]) -> str:
    top = code.split(":", 1)[0]
    try:
        return account_types[top]
    except KeyError:
        known = ", ".join(sorted(account_types))
        raise InvalidTransaction(
            "account", code, f"its top-level segment {top!r} is not an account type ({known})",
            "Start the code with one of those, or add the type to ledger.account_types.",
        ) from None


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
class CategoryError(InvalidTransaction):
    """A category operation that cannot be done as asked."""

    reason_code = "invalid_category"


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
