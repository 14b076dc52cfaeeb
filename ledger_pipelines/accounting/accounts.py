"""Account codes and account types: what a valid code is, and which way an account is signed.

Rule (source-events.md, posting-rules.md, docs/security.md L9): an account is named by a
``:``-separated code path (``assets:receivables:sub_42``) of 1 to 32 segments of 1 to 64
characters, in any script, stored verbatim and compared exactly. So that two codes never look the
same, a code is in Unicode NFC and holds no control, invisible (format: zero-width space and
joiners, soft hyphen, byte-order mark, word joiner), bidirectional, private-use, unassigned or
line/paragraph-separator character. Its top-level segment is its *account type*, one of the
configured types (``ledger.account_types``, the rules file's ``account_types``), which are lower
case; the type decides the account's normal balance (assets and expenses debit-normal;
liabilities, equity, revenue and income credit-normal; more can be configured). Every prefix of
the path is a category.

The rule is written once, as the Polars expression :func:`account_code_expr_problem` (the
vectorised checks of the front end, the journal and the bulk path run it over frames); the scalar
checks (:func:`account_code_problem`, the ledger API's :class:`~ledger_pipelines.ledger.model.Leg`,
the rules file) run the same expression on one value. The database keeps the rule in its own
language (``ledger.is_valid_account_code``), proved equal to this one by a pair test.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache

import polars as pl

from ledger_pipelines.accounting.errors import InvalidTransaction

MAX_SEGMENTS = 32
MAX_SEGMENT_LENGTH = 64
NORMAL_BALANCES = ("debit", "credit")
# Refused Unicode categories: controls, format characters (invisible, bidirectional), private use,
# unassigned, line and paragraph separators (a valid UTF-8 string holds no surrogate, Cs).
BAD_CODE_CHARACTERS = r"[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]"
_NOT_BAD = BAD_CODE_CHARACTERS.replace("[", "[^", 1)


def _segment_after(prefix: pl.Expr) -> pl.Expr:
    """The 1-based number of the segment that follows ``prefix`` (a run of whole segments)."""
    return prefix.str.count_matches(":", literal=True) + 1


def _code_point(char: pl.Expr) -> pl.Expr:
    """``U+XXXX`` of each one-character string (null stays null; only non-null rows reach Python)."""
    return char.map_batches(
        lambda chars: chars.map_elements(lambda c: f"U+{ord(c):04X}", return_dtype=pl.Utf8, skip_nulls=True),
        return_dtype=pl.Utf8,
    )


def _checks(code: pl.Expr, account_types: Collection[str] | None) -> list[tuple[pl.Expr, pl.Expr]]:
    """THE definition of the rule (module docs): ``(fails, why)`` per check, in the order they are
    reported. Each test is one pass over the text; the costlier work (Unicode normalisation, the
    details of a message) only touches the codes that need it (``only``: null elsewhere)."""
    def only(condition: pl.Expr) -> pl.Expr:
        return pl.when(condition).then(code)

    has_bad = code.str.contains(BAD_CODE_CHARACTERS)
    bad = only(has_bad).str.extract_groups(f"^({_NOT_BAD}*)({BAD_CODE_CHARACTERS})")
    not_ascii = only(code.str.len_bytes() != code.str.len_chars())  # an ASCII text is always NFC
    has_empty = (code == "") | code.str.starts_with(":") | code.str.ends_with(":") | code.str.contains("::", literal=True)
    segments = code.str.count_matches(":", literal=True) + 1
    has_long = code.str.contains(f"[^:]{{{MAX_SEGMENT_LENGTH + 1}}}")
    long_at = _segment_after(only(has_long).str.extract(f"^((?:[^:]{{0,{MAX_SEGMENT_LENGTH}}}:)*)", 1))
    checks = [
        (has_bad, pl.format(
            "segment {} contains the non-printable, invisible or direction-changing character {} (control, zero-width "
            "and bidirectional characters are refused because they make codes look alike)",
            _segment_after(bad.struct.field("1")), _code_point(bad.struct.field("2")),
        )),
        ((not_ascii.str.normalize("NFC") != not_ascii).fill_null(False),
         pl.lit("it is not in Unicode NFC (a letter and a combining accent instead of the accented letter); send the code "
                "NFC-normalised")),
        (has_empty, pl.format("segment {} is empty: an empty segment comes from two ':' in a row or a ':' at either end",
                              _segment_after(only(has_empty).str.extract("^((?:[^:]+:)*)", 1)))),
        (segments > MAX_SEGMENTS, pl.format("it has {} segments; at most {} are allowed", segments, pl.lit(MAX_SEGMENTS))),
        (has_long, pl.format("segment {} has {} characters; at most {} are allowed", long_at,
                             only(has_long).str.split(":").list.get(long_at - 1).str.len_chars(), pl.lit(MAX_SEGMENT_LENGTH))),
    ]
    if account_types is not None:
        known = sorted(account_types)
        top = code.str.extract("^([^:]*)", 1)
        checks.append((~top.is_in(known), pl.format("its top-level segment '{}' is not an account type ({}; types are lower "
                                                     "case)", top, pl.lit(", ".join(known)))))
    return checks


def account_code_expr_problem(code: pl.Expr, account_types: Collection[str] | None = None) -> pl.Expr:
    """Why each ``code`` is not a valid account code (text for a message), or null when it is.

    With ``account_types``, the top-level segment must also be one of them; the first failing
    check of :func:`_checks` is reported.
    """
    problem = pl.when(code.is_null()).then(None)
    for fails, why in _checks(code, account_types):
        problem = problem.when(fails).then(why)
    return problem


def _fails(code: pl.Expr, account_types: Collection[str] | None) -> pl.Expr:
    """Whether any check fails (the tests of :func:`_checks` alone, without their messages)."""
    return pl.any_horizontal([fails for fails, _ in _checks(code, account_types)])


def account_type_expr_problem(top: pl.Expr) -> pl.Expr:
    """Why each ``top`` cannot be an account type, or null: one valid segment, in lower case
    (``Equity`` is refused, never folded to ``equity``)."""
    return (
        pl.when(account_code_expr_problem(top).is_not_null()).then(account_code_expr_problem(top))
        .when(top.str.contains(":", literal=True)).then(pl.lit("a type is one top-level segment, without ':'"))
        .when(top.str.to_lowercase() != top)
        .then(pl.format("account types are lower case ('{}', not '{}')", top.str.to_lowercase(), top))
    )


def normal_balance_expr(code: pl.Expr, account_types: Mapping[str, str]) -> pl.Expr:
    """Each (valid) code's normal balance: its account type's."""
    return code.str.extract("^([^:]*)", 1).replace_strict(dict(account_types), return_dtype=pl.Utf8)


def _not_text(code: object) -> str | None:
    """Why ``code`` is not text the expression can read (not a str, or a lone surrogate), or None."""
    if not isinstance(code, str):
        return f"an account code must be text, not {type(code).__name__}"
    try:
        code.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"it contains the lone surrogate U+{ord(code[exc.start]):04X}, which is not a character; send valid Unicode text"
    return None


@lru_cache(maxsize=64)
def _expressions(kind: str, account_types: tuple[str, ...] | None) -> tuple[pl.Expr, pl.Expr]:
    """``(any check fails, why)`` over the column ``code``, built once per kind and set of types."""
    code = pl.col("code")
    if kind == "type":
        return account_type_expr_problem(code).is_not_null(), account_type_expr_problem(code)
    return _fails(code, account_types), account_code_expr_problem(code, account_types)


@lru_cache(maxsize=65536)
def _run(kind: str, text: str, account_types: tuple[str, ...] | None) -> str | None:
    """The expression on one value: first its tests alone (the common case, a valid code, stops
    there), then, for an invalid one, the message."""
    fails, why = _expressions(kind, account_types)
    one = pl.DataFrame({"code": [text]}, schema={"code": pl.Utf8})
    return one.select(why).item() if one.select(fails).item() else None


def account_code_problem(code: object, account_types: Collection[str] | None = None) -> str | None:
    """Why ``code`` is not a valid account code (under one of ``account_types``), or None: the
    expression :func:`account_code_expr_problem` run on one value (memoised: codes repeat)."""
    return _not_text(code) or _run("code", code, None if account_types is None else tuple(sorted(account_types)))  # type: ignore[arg-type]


def account_type_problem(top: object) -> str | None:
    """Why ``top`` cannot be an account type, or None (:func:`account_type_expr_problem` on one value)."""
    return _not_text(top) or _run("type", top, None)  # type: ignore[arg-type]


# Codes validate_account_code found valid: every leg of every posting checks its code, and codes
# repeat; a set lookup is a tenth of the memoised check (bounded: emptied when full).
_VALID_CODES: set[str] = set()
_VALID_CODES_MAX = 65536


def validate_account_code(code: object) -> str:
    """``code`` if it is a valid account code; :class:`InvalidTransaction` naming the problem otherwise."""
    if type(code) is str and code in _VALID_CODES:
        return code
    problem = account_code_problem(code)
    if problem:
        raise InvalidTransaction(
            "account", code, problem, "Name accounts like 'assets:receivables:sub_42' (1-32 segments of 1-64 printable characters)."
        )
    if type(code) is str:
        if len(_VALID_CODES) >= _VALID_CODES_MAX:
            _VALID_CODES.clear()
        _VALID_CODES.add(code)
    return code  # type: ignore[return-value]


def normal_balance_of(code: str, account_types: Mapping[str, str]) -> str:
    """The normal balance of the valid code ``code``: its account type's (its top-level segment's,
    as :func:`normal_balance_expr`); :class:`InvalidTransaction` if that is not one of ``account_types``."""
    normal = account_types.get(code.split(":", 1)[0])
    if normal is None:
        raise InvalidTransaction("account", code, account_code_problem(code, account_types) or "its account type is unknown",
                                 "Start the code with one of those, or add the type to ledger.account_types.")
    return normal
