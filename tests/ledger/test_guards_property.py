"""evaluate_guards (vectorised pass + exact fallback) == posting the batch one transaction at a time.

The reference below is deliberately naive: a dict of balances, one transaction after another,
refusing a transaction when a condition fails, a lock_version is stale or a sum would leave 64 bits.
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_pipelines.ledger.guards import INT64_MAX, evaluate_guards

ACCOUNTS = {"a": "debit", "b": "credit", "c": "debit"}
CURRENCIES = ["USD", "JPY"]


def reference(transactions, state):
    balances = {k: dict(v) for k, v in state.items()}
    versions = {acc: next(v["lock_version"] for (a, _), v in state.items() if a == acc) for acc in ACCOUNTS}
    refused = []
    for seq, status, legs in transactions:
        after = {k: dict(v) for k, v in balances.items()}
        ok = True
        for account, _currency, _direction, _amount, lock_version, _conditions in legs:
            if lock_version is not None and lock_version != versions[account]:
                ok = False
        for account, currency, direction, amount, _lv, _conditions in legs:
            key = (account, currency)
            slot = ("p" if status == "posted" else "q") + ("d" if direction == "debit" else "c")
            after[key][slot] += amount
            if after[key][slot] > INT64_MAX:
                ok = False
        for account, currency, _d, _a, _lv, conditions in legs:
            s = after[(account, currency)]
            normal = ACCOUNTS[account]
            posted = s["pd"] - s["pc"] if normal == "debit" else s["pc"] - s["pd"]
            pending = posted + (s["qd"] - s["qc"] if normal == "debit" else s["qc"] - s["qd"])
            available = posted - (s["qc"] if normal == "debit" else s["qd"])
            for balance, op, bound in conditions:
                value = {"posted": posted, "pending": pending, "available": available}[balance]
                if not {"gte": value >= bound, "lte": value <= bound, "eq": value == bound}[op]:
                    ok = False
        if ok:
            balances = after
            for account, *_ in legs:
                versions[account] += 1
        else:
            refused.append(seq)
    return refused


# Mostly ordinary amounts and no lock_version, so the vectorised fast path decides alone in
# many examples; sometimes huge amounts and versions, so the exact fallback runs too.
amounts = st.integers(0, 19).flatmap(lambda n: st.just(2**62) if n == 0 else st.integers(1, 500))
lock_versions = st.integers(0, 3).flatmap(lambda n: st.integers(0, 6) if n == 0 else st.none())
conditions = st.lists(
    st.tuples(st.sampled_from(["posted", "pending", "available"]), st.sampled_from(["gte", "lte", "eq"]), st.integers(-300, 300)),
    max_size=1,
)


@st.composite
def batches(draw):
    transactions = []
    for seq in range(draw(st.integers(1, 12))):
        currency = draw(st.sampled_from(CURRENCIES))
        amount = draw(amounts)
        debit, credit = draw(st.permutations(list(ACCOUNTS)))[:2]
        status = draw(st.sampled_from(["posted", "pending"]))
        legs = [
            (debit, currency, "debit", amount, draw(lock_versions), draw(conditions)),
            (credit, currency, "credit", amount, None, draw(conditions)),
        ]
        transactions.append((seq, status, legs))
    state = {}
    for account in ACCOUNTS:
        version = draw(st.integers(0, 3))
        for currency in CURRENCIES:
            state[(account, currency)] = {
                "pd": draw(st.integers(0, 200)), "pc": draw(st.integers(0, 200)),
                "qd": draw(st.integers(0, 50)), "qc": draw(st.integers(0, 50)), "lock_version": version,
            }
    return transactions, state


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_batch_guards_equal_one_at_a_time_posting(batch):
    transactions, state = batch
    legs = pl.DataFrame(
        [
            {"order": seq, "seq": seq, "account": account, "account_id": account, "currency": currency,
             "direction": direction, "amount": amount, "status": status, "lock_version": lock_version,
             "conditions": [{"balance": b, "op": o, "amount": a} for b, o, a in conds]}
            for seq, status, tx_legs in transactions
            for account, currency, direction, amount, lock_version, conds in tx_legs
        ],
        schema={"order": pl.Int64, "seq": pl.Int64, "account": pl.Utf8, "account_id": pl.Utf8, "currency": pl.Utf8,
                "direction": pl.Utf8, "amount": pl.Int64, "status": pl.Utf8, "lock_version": pl.Int64,
                "conditions": pl.List(pl.Struct({"balance": pl.Utf8, "op": pl.Utf8, "amount": pl.Int64}))},
    )
    state_frame = pl.DataFrame(
        [
            {"account_id": a, "currency": c, "normal_balance": ACCOUNTS[a], "lock_version": v["lock_version"],
             "posted_debits": v["pd"], "posted_credits": v["pc"], "pending_debits": v["qd"], "pending_credits": v["qc"]}
            for (a, c), v in state.items()
        ]
    )
    refused = sorted(r.seq for r in evaluate_guards(legs, state_frame))
    assert refused == reference(transactions, state)
