"""Accounts: every leg's account checked, created on first use, and its currency restriction applied.

The account-code rule and the normal balance are :mod:`ledger_pipelines.accounting.accounts`'s;
the database checks the same rule again when ``sql/ledger/ensure_accounts.sql`` creates an
account (``ledger.accounts_valid_on_insert``), and every entry's account and currency again
(``ledger.entries_after_insert``).
"""

from __future__ import annotations

import polars as pl

from ledger_pipelines.accounting.accounts import account_code_expr_problem, normal_balance_expr
from ledger_pipelines.ledger.bulk.state import Batch, refusals
from ledger_pipelines.ledger.ids import account_id_column
from ledger_pipelines.paths import read_sql


def account_legs(batch: Batch) -> pl.DataFrame:
    """The legs still alive, with ``account_id`` and ``normal_balance``; bad accounts refused.

    Every check runs on the distinct codes of the batch (20k for 400k legs in the bench), and
    the verdicts are joined back to the legs: the code rule, the id hash and the normal
    balance cost per account, not per leg.
    """
    legs = batch.plan.legs.join(
        batch.plan.postings.select("seq", "idempotency_key", "status", "effective_at", "phase"),
        on=["seq", "idempotency_key"], how="left",
    )
    codes = legs.select("account").unique()
    codes = codes.with_columns(problem=account_code_expr_problem(pl.col("account"), batch.account_types))
    bad_codes = codes.filter(pl.col("problem").is_not_null()).select("account")
    batch.refuse(refusals(
        legs.join(bad_codes, on="account", how="semi").sort("seq"), "invalid_account",
        pl.format("account {} is not a valid code path under a known account type ({}); name it like "
                  "'assets:receivables:sub_42'", pl.col("account"), pl.lit(", ".join(sorted(batch.account_types)))),
    ))
    legs = batch.alive(legs)
    codes = legs.select("account").unique()
    codes = codes.with_columns(
        account_id=account_id_column(codes["account"]),
        normal_balance=normal_balance_expr(pl.col("account"), batch.account_types),
    )
    legs = legs.join(codes, on="account", how="left")
    batch.conn.execute(
        read_sql("ledger/ensure_accounts.sql"),
        {"ids": codes["account_id"].to_list(), "codes": codes["account"].to_list(), "normal": codes["normal_balance"].to_list()},
    )
    restricted = batch.query_frame(
        read_sql("ledger/bulk/restricted_accounts.sql"), {"account_id": pl.Utf8, "code": pl.Utf8, "only": pl.Utf8},
        {"ids": codes["account_id"].to_list()},
    )
    if restricted.height:
        wrong = legs.join(restricted, on="account_id").filter(pl.col("currency") != pl.col("only"))
        batch.refuse(refusals(
            wrong.sort("seq"), "invalid_account",
            pl.format("account {} holds only {}, not {}; post {} amounts to another account", pl.col("account"),
                      pl.col("only"), pl.col("currency"), pl.col("currency")),
        ))
    return legs
