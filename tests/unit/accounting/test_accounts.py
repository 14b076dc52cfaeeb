"""The account-code rule (accounting/accounts.py) is one rule for every caller.

An independent reading of the contract (unicodedata, str.split) against the Polars expression on
random codes; the scalar check against the expression over a frame; and the rules file, which once
had its own copy that let invisible characters through (review 2.3, R8), refusing at load time.
"""

from __future__ import annotations

import textwrap
import unicodedata

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger_pipelines.accounting.accounts import (
    MAX_SEGMENT_LENGTH,
    MAX_SEGMENTS,
    account_code_expr_problem,
    account_code_problem,
    normal_balance_expr,
    normal_balance_of,
)
from ledger_pipelines.accounting.errors import InvalidTransaction
from ledger_pipelines.ingest.rules import RuleError, load_rule_files

TYPES = {"assets": "debit", "expenses": "debit", "liabilities": "credit", "revenue": "credit"}
REFUSED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Characters near the edges of the rule: separators, invisible and direction marks, combining accents,
# private use, unassigned, line separators, and ordinary letters of several scripts.
ALPHABET = st.sampled_from(list("ab:_-é\u0301\u00e9\u200b\u00ad\ufeff\u2060\u202e\u0007\ue000\u0378\u2028 ÄЖ中"))
CODES = st.one_of(
    st.text(ALPHABET, max_size=12),
    st.builds(lambda top, rest: top + ":" + rest, st.sampled_from([*TYPES, "Assets", "other"]), st.text(ALPHABET, max_size=10)),
    st.builds(lambda n, length: ":".join(["assets"] + ["x" * length] * n), st.integers(0, MAX_SEGMENTS + 1),
              st.integers(1, MAX_SEGMENT_LENGTH + 1)),
)


def reference_valid(code: str, types: dict[str, str] | None) -> bool:
    """The rule as the contract states it, read independently of the Polars expression."""
    segments = code.split(":")
    return (
        unicodedata.is_normalized("NFC", code)
        and len(segments) <= MAX_SEGMENTS
        and all(0 < len(s) <= MAX_SEGMENT_LENGTH for s in segments)
        and not any(unicodedata.category(c) in REFUSED for c in code)
        and (types is None or segments[0] in types)
    )


@settings(max_examples=400, deadline=None)
@given(code=CODES, typed=st.booleans())
@example(code="assets:e\u0301", typed=True)
@example(code="assets:ca\u200bsh", typed=True)
@example(code="assets:" + ":".join(["s"] * 31), typed=True)
def test_the_expression_is_the_rule_the_contract_states(code, typed):
    types = TYPES if typed else None
    problem = account_code_problem(code, types)
    assert (problem is None) == reference_valid(code, types), (code, problem)
    frame_problem = pl.DataFrame({"code": [code]}).select(account_code_expr_problem(pl.col("code"), types)).item()
    assert frame_problem == problem


def test_a_lone_surrogate_or_a_non_text_is_refused_with_a_reason():
    assert "surrogate" in account_code_problem("assets:\ud800")
    assert "text" in account_code_problem(42)


def test_normal_balance_of_one_code_and_of_a_column_agree():
    codes = ["assets:cash", "revenue:x:y", "liabilities:c"]
    column = pl.DataFrame({"code": codes}).select(normal_balance_expr(pl.col("code"), TYPES)).to_series().to_list()
    assert column == [normal_balance_of(c, TYPES) for c in codes] == ["debit", "credit", "credit"]
    with pytest.raises(InvalidTransaction, match="not an account type"):
        normal_balance_of("stuff:thing", TYPES)


@pytest.mark.parametrize("char", ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u202e"])
def test_the_rules_file_refuses_at_load_time_what_ingestion_would_refuse(tmp_path, char):
    """Review 2.3 (R8): the rules file's own copy of the rule let these through, to fail later."""
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent(f"""\
        version: 1
        event_types:
          x.y:
            action: post
            legs:
              - {{direction: debit, account: "assets:ca{char}sh"}}
              - {{direction: credit, account: "revenue:x"}}
        """))
    account_type = tmp_path / "type.yaml"
    account_type.write_text(f"version: 1\naccount_types:\n  contra{char}: debit\nevent_types: {{}}\n")
    for path in (template, account_type):
        with pytest.raises(RuleError, match=f"U\\+{ord(char):04X}"):
            load_rule_files([path])
