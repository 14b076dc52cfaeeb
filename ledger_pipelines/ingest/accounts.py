"""Account codes, checked vectorised (the same rules as ``ledger_pipelines.ledger.accounts``).

A code is a ``:``-separated path of 1-32 segments, each 1-64 printable characters other than
``:`` in any script (quotes, spaces, emoji and right-to-left letters are fine and kept verbatim).
Refused: control, private-use, unassigned and line/paragraph-separator characters, and the
invisible format characters (zero-width space and joiners, soft hyphen, bidirectional marks,
overrides and isolates) that can make one code *display* as another. The top-level
segment must be a configured account type (it sets the normal balance).
"""

from __future__ import annotations

import polars as pl

from ledger_pipelines.ledger.accounts import BAD_CODE_CHARACTERS

MAX_SEGMENTS = 32
MAX_SEGMENT_LENGTH = 64
BAD_CHARACTERS = BAD_CODE_CHARACTERS


def account_problem(code: pl.Expr, account_types: dict[str, str]) -> pl.Expr:
    """Why each code is not a valid account code (text for a message), or null when it is valid."""
    segments = code.str.split(":")
    top = segments.list.first()
    longest = segments.list.eval(pl.element().str.len_chars()).list.max()
    known = ", ".join(sorted(account_types))
    return (
        pl.when(code.is_null()).then(None)
        .when(code.str.contains(BAD_CHARACTERS))
        .then(pl.format("it contains the non-printable, invisible or direction-changing character at position {} "
                        "(control, zero-width and bidirectional characters are refused because they make codes look alike)",
                        code.str.find(BAD_CHARACTERS) + 1))
        .when(segments.list.eval(pl.element().str.len_chars() == 0).list.any())
        .then(pl.lit("it has an empty segment (two ':' in a row, or a ':' at either end)"))
        .when(segments.list.len() > MAX_SEGMENTS)
        .then(pl.format("it has {} segments; at most {} are allowed", segments.list.len(), pl.lit(MAX_SEGMENTS)))
        .when(longest > MAX_SEGMENT_LENGTH)
        .then(pl.format("a segment has {} characters; at most {} are allowed", longest, pl.lit(MAX_SEGMENT_LENGTH)))
        .when(~top.is_in(sorted(account_types)))
        .then(pl.format("its top-level segment \"{}\" is not an account type ({})", top, pl.lit(known)))
    )
