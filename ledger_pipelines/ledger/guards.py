"""Deciding, for a batch, which postings pass their balance conditions and lock versions.

The bulk path locks every balance the batch touches (``ledger.lock_balances``) and reads their
state; this module then replays the batch in order against that state and says which postings
to refuse -- as if the events had been applied one at a time, in the replay ``order`` the caller
gives (file order; lifecycle moves and reversals take part as the signed legs they add, so a
condition sees what an earlier reversal or archive left):

* a leg's ``lock_version`` must equal the account's version before its transaction (each entry
  an earlier accepted transaction posts to the account, or an earlier move carries, adds one);
* every condition must hold for the balance *after* the transaction;
* no cached sum may leave the signed 64-bit range (a hostile batch of huge amounts is refused
  event by event instead of failing the whole batch in the database).

Refused postings do not count for later ones. The common case (nothing refused) is one
vectorised pass; only if something fails does an exact sequential pass run, and only over the
rows of the accounts that have a guard.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ledger_pipelines.accounting.balances import BALANCE_KINDS, balance_columns, signed_balances

INT64_MAX = 2**63 - 1
_OPS = {"gte": ">=", "lte": "<=", "eq": "=="}


@dataclass(frozen=True)
class Refusal:
    seq: int
    reason_code: str  # balance_condition_failed | version_conflict | amount_out_of_range
    message: str


def evaluate_guards(legs: pl.DataFrame, state: pl.DataFrame) -> list[Refusal]:
    """Which postings to refuse.

    ``legs``: ``order`` (Int64, the replay order), ``seq``, ``account`` (code, for messages),
    ``account_id``, ``currency``, ``direction``, ``amount`` (negative for what a move takes out
    of the pending sums), ``status`` ('posted'/'pending': which sums the amount goes to),
    ``lock_version`` (nullable), ``conditions`` (list of {balance, op, amount}), and optionally
    ``bumps`` (what the row adds to its account's lock version; 1 if absent).
    ``state``: the locked state per ``account_id, currency``: ``normal_balance, lock_version,
    posted_debits, posted_credits, pending_debits, pending_credits``.
    """
    if legs.is_empty():
        return []
    if "bumps" not in legs.columns:
        legs = legs.with_columns(bumps=pl.lit(1, pl.Int64))
    legs = legs.with_columns(
        pl.col("amount").cast(pl.Int128),
        has_guard=(pl.col("lock_version").is_not_null() | (pl.col("conditions").list.len() > 0)),
    )
    watched_pairs = _watched_pairs(legs, state)
    watched_accounts = legs.filter(pl.col("lock_version").is_not_null()).select("account_id").unique()
    if watched_pairs.is_empty() and watched_accounts.is_empty():
        return []
    if not _anything_fails(legs, state, watched_pairs, watched_accounts):
        return []
    return _sequential(legs, state, watched_pairs, watched_accounts)


def _watched_pairs(legs: pl.DataFrame, state: pl.DataFrame) -> pl.DataFrame:
    """Pairs with a condition, plus pairs whose sums could overflow if everything were accepted."""
    guarded = legs.filter(pl.col("conditions").list.len() > 0).select("account_id", "currency").unique()
    totals = (  # only what adds to a sum can take it past the range
        legs.filter(pl.col("amount") > 0).group_by("account_id", "currency")
        .agg(
            pl.col("amount").filter(pl.col("direction") == "debit").sum().alias("d"),
            pl.col("amount").filter(pl.col("direction") == "credit").sum().alias("c"),
        )
        .join(state, on=["account_id", "currency"], how="left")
        .filter(
            (pl.col("posted_debits").cast(pl.Int128) + pl.col("pending_debits") + pl.col("d") > INT64_MAX)
            | (pl.col("posted_credits").cast(pl.Int128) + pl.col("pending_credits") + pl.col("c") > INT64_MAX)
        )
        .select("account_id", "currency")
    )
    return pl.concat([guarded, totals]).unique()


def _anything_fails(legs, state, watched_pairs, watched_accounts) -> bool:
    """True if anything fails when every posting is accepted (then the exact pass decides)."""
    rows = legs.join(watched_pairs, on=["account_id", "currency"], how="semi")
    if not rows.is_empty():
        per_tx = (
            rows.group_by("account_id", "currency", "order")
            .agg(
                pd=pl.col("amount").filter((pl.col("status") == "posted") & (pl.col("direction") == "debit")).sum(),
                pc=pl.col("amount").filter((pl.col("status") == "posted") & (pl.col("direction") == "credit")).sum(),
                qd=pl.col("amount").filter((pl.col("status") == "pending") & (pl.col("direction") == "debit")).sum(),
                qc=pl.col("amount").filter((pl.col("status") == "pending") & (pl.col("direction") == "credit")).sum(),
            )
            .sort("account_id", "currency", "order")
            .with_columns(pl.col("pd", "pc", "qd", "qc").cum_sum().over("account_id", "currency"))
            .join(state, on=["account_id", "currency"], how="left")
            .with_columns(
                pd=pl.col("pd") + pl.col("posted_debits"),
                pc=pl.col("pc") + pl.col("posted_credits"),
                qd=pl.col("qd") + pl.col("pending_debits"),
                qc=pl.col("qc") + pl.col("pending_credits"),
            )
        )
        if per_tx.filter(pl.max_horizontal("pd", "pc", "qd", "qc") > INT64_MAX).height:
            return True
        after = per_tx.with_columns(
            balance_columns(pl.col("normal_balance"), pl.col("pd"), pl.col("pc"), pl.col("qd"), pl.col("qc"))
        ).select("account_id", "currency", "order", "posted", "pending", "available")
        checks = (
            rows.filter(pl.col("conditions").list.len() > 0)
            .select("account_id", "currency", "order", "conditions")
            .explode("conditions")
            .unnest("conditions")
            .join(after, on=["account_id", "currency", "order"], how="left")
            .with_columns(
                actual=pl.when(pl.col("balance") == "posted").then(pl.col("posted"))
                .when(pl.col("balance") == "pending").then(pl.col("pending"))
                .otherwise(pl.col("available"))
            )
            .with_columns(
                ok=pl.when(pl.col("op") == "gte").then(pl.col("actual") >= pl.col("amount"))
                .when(pl.col("op") == "lte").then(pl.col("actual") <= pl.col("amount"))
                .otherwise(pl.col("actual") == pl.col("amount"))
            )
        )
        if checks.filter(~pl.col("ok")).height:
            return True
    if not watched_accounts.is_empty():
        versions = (
            legs.join(watched_accounts, on="account_id", how="semi")
            .select("account_id", "order", "currency", "lock_version", "bumps")
            .group_by("account_id", "order")
            .agg(pl.col("lock_version").drop_nulls(), pl.col("bumps").sum())
            .sort("account_id", "order")
            .with_columns(before=(pl.col("bumps").cum_sum() - pl.col("bumps")).over("account_id"))
            .join(state.group_by("account_id").agg(pl.col("lock_version").first().alias("base")), on="account_id", how="left")
            .explode("lock_version")
            .filter(pl.col("lock_version").is_not_null() & (pl.col("lock_version") != pl.col("base") + pl.col("before")))
        )
        if versions.height:
            return True
    return False


def _sequential(legs, state, watched_pairs, watched_accounts) -> list[Refusal]:
    """Exact replay, one transaction at a time, over the rows of watched pairs/accounts only."""
    pair_keys = set(zip(watched_pairs["account_id"].to_list(), watched_pairs["currency"].to_list(), strict=True))
    account_keys = set(watched_accounts["account_id"].to_list())
    indexed = legs.with_row_index("row")
    rows = (
        pl.concat([
            indexed.join(watched_pairs, on=["account_id", "currency"], how="semi"),
            indexed.join(watched_accounts, on="account_id", how="semi"),
        ])
        .unique("row")
        .sort("order", "row")
    )
    balances = {
        (r["account_id"], r["currency"]): [r["posted_debits"], r["posted_credits"], r["pending_debits"], r["pending_credits"], r["normal_balance"]]
        for r in state.iter_rows(named=True)
    }
    versions = {r["account_id"]: r["lock_version"] for r in state.iter_rows(named=True)}
    refusals: list[Refusal] = []
    for (_order,), tx_rows in rows.group_by("order", maintain_order=True):
        tx = tx_rows.to_dicts()
        refusal = _check_one(tx, balances, versions, pair_keys, account_keys)
        if refusal:
            refusals.append(refusal)
            continue
        for leg in tx:
            key = (leg["account_id"], leg["currency"])
            if key in pair_keys:
                slot = (0 if leg["direction"] == "debit" else 1) + (0 if leg["status"] == "posted" else 2)
                balances[key][slot] += leg["amount"]
        # lock_version grows by one per entry posted to the account.
        for leg in tx:
            if leg["account_id"] in account_keys:
                versions[leg["account_id"]] += leg["bumps"]
    return refusals


def _check_one(tx, balances, versions, pair_keys, account_keys) -> Refusal | None:
    seq = tx[0]["seq"]
    for leg in tx:
        if leg["lock_version"] is not None and leg["account_id"] in account_keys and leg["lock_version"] != versions[leg["account_id"]]:
            return Refusal(
                seq, "version_conflict",
                f"account {leg['account']}: lock_version {leg['lock_version']} is stale, the account is at "
                f"{versions[leg['account_id']]}. Re-read the account and send the event again with the current version.",
            )
    after: dict[tuple[str, str], list] = {}
    for leg in tx:
        key = (leg["account_id"], leg["currency"])
        if key not in pair_keys:
            continue
        sums = after.setdefault(key, list(balances[key]))
        slot = (0 if leg["direction"] == "debit" else 1) + (0 if leg["status"] == "posted" else 2)
        sums[slot] += leg["amount"]
        if sums[slot] > INT64_MAX:
            return Refusal(
                seq, "amount_out_of_range",
                f"account {leg['account']} ({leg['currency']}): this posting would take its cached sums beyond the "
                "signed 64-bit range. Check the amount; split such a sum over several accounts if it is real.",
            )
    for leg in tx:
        key = (leg["account_id"], leg["currency"])
        for condition in leg["conditions"] or []:
            pd, pc, qd, qc, normal = after.get(key, balances[key])
            actual = dict(zip(BALANCE_KINDS, signed_balances(normal, pd, pc, qd, qc), strict=True))[condition["balance"]]
            bound, op = condition["amount"], condition["op"]
            if not (actual >= bound if op == "gte" else actual <= bound if op == "lte" else actual == bound):
                return Refusal(
                    seq, "balance_condition_failed",
                    f"account {leg['account']}: its {condition['balance']} balance would be {actual} {leg['currency']} "
                    f"after this transaction, but the condition requires {_OPS[op]} {bound}. Nothing was posted; "
                    "replay the event when the balance allows it.",
                )
    return None
