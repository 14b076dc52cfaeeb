"""Accounts: every leg's account checked, created on first use, and its currency restriction applied.

The account-code rule and the normal balance are :mod:`ledger_pipelines.accounting.accounts`'s;
the database checks the same rule again when ``sql/ledger/ensure_accounts.sql`` creates an
account (``ledger.accounts_valid_on_insert``), and every entry's account and currency again
(``ledger.entries_after_insert``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from ledger_pipelines.accounting.accounts import account_code_expr_problem, normal_balance_expr
from ledger_pipelines.ledger.bulk.state import Batch, refusals
from ledger_pipelines.ledger.ids import account_id_column
from ledger_pipelines.ledger.plan import PostingPlan
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import array_literal


@dataclass(frozen=True)
class PreparedLegs:
    """The plan's legs with their posting's columns, and a verdict per distinct account code.

    Needs nothing from the database, so :func:`~ledger_pipelines.ledger.bulk.apply_plan` prepares
    it on a second thread while the server probes the batch's keys.
    """

    legs: pl.DataFrame  # every leg of the plan, with status, effective_at and phase of its posting
    codes: pl.DataFrame  # account, problem (null if valid), account_id, normal_balance


def prepare_legs(plan: PostingPlan, account_types: Mapping[str, str]) -> PreparedLegs:
    """Join the legs to their postings and judge every distinct code once (20k codes for 400k legs in the bench).

    The code rule, the id hash and the normal balance cost per account, not per leg.
    """
    legs = plan.legs.join(
        plan.postings.select("seq", "idempotency_key", "status", "effective_at", "phase"),
        on=["seq", "idempotency_key"], how="left",
    )
    codes = legs.select("account").unique().with_columns(problem=account_code_expr_problem(pl.col("account"), account_types))
    valid = codes.filter(pl.col("problem").is_null()).select("account")
    valid = valid.with_columns(
        account_id=account_id_column(valid["account"]), normal_balance=normal_balance_expr(pl.col("account"), account_types),
    )
    return PreparedLegs(legs, codes.join(valid, on="account", how="left"))


def account_legs(batch: Batch, prepared: PreparedLegs) -> pl.DataFrame:
    """The legs still alive, with ``account_id`` and ``normal_balance``; bad accounts refused.

    The verdicts (:func:`prepare_legs`) are joined back to the legs; the accounts the surviving
    legs name are created if missing, and legs in a currency their account does not hold refused.
    """
    legs = prepared.legs
    bad_codes = prepared.codes.filter(pl.col("problem").is_not_null()).select("account")
    batch.refuse(refusals(
        legs.join(bad_codes, on="account", how="semi").sort("seq"), "invalid_account",
        pl.format("account {} is not a valid code path under a known account type ({}); name it like "
                  "'assets:receivables:sub_42'", pl.col("account"), pl.lit(", ".join(sorted(batch.account_types)))),
    ))
    legs = batch.alive(legs)
    codes = prepared.codes.join(legs.select("account").unique(), on="account", how="semi").drop("problem")
    legs = legs.join(codes, on="account", how="left")
    ids = array_literal(codes["account_id"])
    batch.conn.execute(
        read_sql("ledger/ensure_accounts.sql"),
        {"ids": ids, "codes": array_literal(codes["account"]), "normal": array_literal(codes["normal_balance"])},
    )
    restricted = batch.query_frame(
        read_sql("ledger/bulk/restricted_accounts.sql"), {"account_id": pl.Utf8, "code": pl.Utf8, "only": pl.Utf8}, {"ids": ids},
    )
    if restricted.height:
        wrong = legs.join(restricted, on="account_id").filter(pl.col("currency") != pl.col("only"))
        batch.refuse(refusals(
            wrong.sort("seq"), "invalid_account",
            pl.format("account {} holds only {}, not {}; post {} amounts to another account", pl.col("account"),
                      pl.col("only"), pl.col("currency"), pl.col("currency")),
        ))
    return legs
