"""The sample business simulated with numpy: one row per source event, typed columns, no JSON yet.

Every random choice comes from one ``numpy.random.Generator(PCG64(seed))`` drawn in a fixed
order, so the same arguments always give the same events. Loops run over months (to evolve
plans and churn), never over events.

Instants are int64 microseconds since the epoch (UTC) until :mod:`.render` formats them.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from ledger_pipelines.generate import catalog as C

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# effective_at styles
STYLE_Z, STYLE_LOCAL, STYLE_DATE = 0, 1, 2

COLUMNS: dict[str, pl.DataType] = {
    "uid": pl.Int64, "event_type": pl.Utf8, "eff": pl.Int64, "rec": pl.Int64, "rec_given": pl.Boolean, "style": pl.Int8,
    "sub": pl.Int64, "cur": pl.Int64, "amount": pl.Int64, "plan": pl.Int64, "month": pl.Int64,
    "invoice_uid": pl.Int64, "payment_no": pl.Int64, "target_uid": pl.Int64, "credit_no": pl.Int64, "usage_no": pl.Int64,
    "metric": pl.Int64, "quantity": pl.Int64, "unit_amount": pl.Int64, "period_end": pl.Int64, "reason": pl.Utf8,
    "status": pl.Utf8, "legs": pl.Utf8, "description": pl.Utf8, "journal_kind": pl.Utf8,
}


def _at_least_one(mask: np.ndarray, rng: np.random.Generator, eligible: np.ndarray | None = None) -> np.ndarray:
    """``mask``, with one random eligible row switched on if none is (rare kinds always appear)."""
    if mask.any():
        return mask
    pool = np.flatnonzero(eligible if eligible is not None else np.ones(len(mask), dtype=bool))
    if len(pool):
        mask = mask.copy()
        mask[pool[rng.integers(0, len(pool))]] = True
    return mask


def month_starts(start: date, months: int) -> np.ndarray:
    """Start of each month (and of the month after the last), microseconds since the epoch."""
    first = np.datetime64(date(start.year, start.month, 1), "M")
    return (first + np.arange(months + 1)).astype("datetime64[us]").astype(np.int64)


def _frame(**columns) -> pl.DataFrame:
    height = max(len(v) for v in columns.values() if not np.isscalar(v))
    data = {}
    for name, dtype in COLUMNS.items():
        value = columns.get(name)
        if value is None:
            data[name] = pl.Series(name, [None] * height, dtype=dtype)
        elif np.isscalar(value) or isinstance(value, str):
            data[name] = pl.Series(name, [value] * height, dtype=dtype)
        else:
            series = pl.Series(name, value).cast(dtype)
            if dtype == pl.Utf8:  # "" marks "no value" in numpy string arrays
                series = pl.select(pl.when(series != "").then(series)).to_series().rename(name)
            data[name] = series
    return pl.DataFrame(data)


def _neighbour(keys: np.ndarray, offset: int) -> np.ndarray:
    """For each key, the index of the row whose key is ``key + offset`` (-1 if none); keys are unique."""
    if len(keys) == 0:
        return np.array([], dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    pos = np.minimum(np.searchsorted(ordered, keys + offset), len(keys) - 1)
    return np.where(ordered[pos] == keys + offset, order[pos], -1)


def simulate(subscriptions: int, months: int, seed: int, start: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(events, subscriptions)``: every source event as a typed row, and one row per subscription.

    The business as it stands at the end of its last month: nothing takes effect later (payments
    still in flight then stay pending; the last month's usage is not billed yet)."""
    rng = np.random.default_rng(np.random.PCG64(seed))
    n = subscriptions
    bounds = month_starts(start, months)
    window_end = bounds[months]
    n_cur = len(C.CURRENCIES)

    # -- subscriptions ------------------------------------------------------------------------
    cur = rng.choice(n_cur, n, p=[c[2] for c in C.CURRENCIES])
    region_pick = rng.random(n)
    channel = rng.choice(len(C.CHANNELS), n, p=[0.6, 0.3, 0.1])
    start_month = np.where(rng.random(n) < 0.6, 0, rng.integers(0, max(months, 1), n))
    anchor = rng.integers(0, 28, n)  # billing day offset within the month
    plan = rng.choice(len(C.PLANS), n, p=C.PLAN_SHARE)
    alive = np.ones(n, dtype=bool)
    local = np.array([c[0] == "EUR" for c in C.CURRENCIES])[cur]
    payer = rng.random(n)
    late_payer = payer < C.LATE_PAYER_RATE
    defaulter = (payer >= C.LATE_PAYER_RATE) & (payer < C.LATE_PAYER_RATE + C.DEFAULT_RATE)
    # a defaulter's first unpaid month (never, for everyone else)
    default_month = np.where(defaulter, start_month + rng.integers(1, max(months, 2), n), months + C.DUNNING_MONTHS)

    inv_sub, inv_month, inv_plan = [], [], []
    for m in range(months):
        active = alive & (start_month <= m)
        up = rng.random(n) < C.UPGRADE_RATE
        down = rng.random(n) < C.DOWNGRADE_RATE
        changing = active & (start_month < m)
        plan = np.where(changing, np.clip(plan + up.astype(int) - down.astype(int), 0, len(C.PLANS) - 1), plan)
        idx = np.flatnonzero(active)
        inv_sub.append(idx)
        inv_month.append(np.full(len(idx), m))
        inv_plan.append(plan[idx])
        cut_off = m >= default_month + C.DUNNING_MONTHS - 1  # dunned for DUNNING_MONTHS invoices, then stopped
        alive &= ~(active & ((rng.random(n) < C.CHURN_RATE) | cut_off))
    inv_sub = np.concatenate(inv_sub) if inv_sub else np.array([], dtype=np.int64)
    inv_month = np.concatenate(inv_month) if inv_month else np.array([], dtype=np.int64)
    inv_plan = np.concatenate(inv_plan) if inv_plan else np.array([], dtype=np.int64)
    n_inv = len(inv_sub)
    prices = np.array(C.PRICES)
    inv_cur = cur[inv_sub]
    inv_amount = prices[inv_plan, inv_cur]
    inv_eff = bounds[inv_month] + anchor[inv_sub] * DAY
    inv_end = bounds[inv_month + 1] + anchor[inv_sub] * DAY - DAY
    inv_unpaid = inv_month >= default_month[inv_sub]
    uid0 = 0
    inv_uid = np.arange(uid0, uid0 + n_inv)
    uid0 += n_inv
    frames = [_frame(uid=inv_uid, event_type="invoice.issued", eff=inv_eff, style=STYLE_DATE, sub=inv_sub, cur=inv_cur,
                     amount=inv_amount, plan=inv_plan, month=inv_month, invoice_uid=inv_uid, period_end=inv_end)]
    # each subscription's invoices are consecutive months: the previous / next one of each invoice
    inv_key = inv_sub * (months + 1) + inv_month
    previous_invoice, next_invoice = _neighbour(inv_key, -1), _neighbour(inv_key, 1)

    # -- credits: granted before some (non-first) invoices, mostly applied to them ---------------
    eligible = (inv_month > start_month[inv_sub]) & ~defaulter[inv_sub]
    granted = _at_least_one(eligible & (rng.random(n_inv) < C.CREDIT_RATE), rng, eligible)
    g_idx = np.flatnonzero(granted)
    g_amount = np.maximum(1, (inv_amount[g_idx] * rng.uniform(0.1, 0.5, len(g_idx))).astype(np.int64))
    g_eff = inv_eff[g_idx] - rng.integers(3 * DAY, 10 * DAY, len(g_idx))
    g_uid = np.arange(uid0, uid0 + len(g_idx))
    uid0 += len(g_idx)
    frames.append(_frame(uid=g_uid, event_type="credit.granted", eff=g_eff, style=STYLE_Z, sub=inv_sub[g_idx],
                         cur=inv_cur[g_idx], amount=g_amount, credit_no=g_uid,
                         reason=np.where(rng.random(len(g_idx)) < 0.5, "goodwill", "promotion")))
    applied = _at_least_one(rng.random(len(g_idx)) < C.CREDIT_APPLY_RATE, rng)
    a_idx = g_idx[applied]
    a_uid = np.arange(uid0, uid0 + len(a_idx))
    uid0 += len(a_idx)
    frames.append(_frame(uid=a_uid, event_type="credit.applied", eff=inv_eff[a_idx] + 10 * MINUTE, style=STYLE_Z,
                         sub=inv_sub[a_idx], cur=inv_cur[a_idx], amount=g_amount[applied], credit_no=g_uid[applied],
                         invoice_uid=inv_uid[a_idx]))
    credit_by_invoice = np.zeros(n_inv, dtype=np.int64)
    credit_by_invoice[a_idx] = g_amount[applied]

    # -- usage records and corrections --------------------------------------------------------------
    rate = np.array(C.USAGE_RATE)[inv_plan]
    per_invoice = rng.poisson(rate)
    u_src = np.repeat(np.arange(n_inv), per_invoice)
    k = len(u_src)
    month_len = bounds[inv_month[u_src] + 1] - bounds[inv_month[u_src]]
    u_eff = bounds[inv_month[u_src]] + (rng.random(k) * month_len).astype(np.int64) // US * US
    metric = rng.integers(0, len(C.METRICS), k)
    low = np.array([q[0] for q in C.QUANTITY_RANGE])[metric]
    high = np.array([q[1] for q in C.QUANTITY_RANGE])[metric]
    quantity = low + (rng.random(k) * (high - low + 1)).astype(np.int64)
    unit = np.array(C.UNIT_AMOUNTS)[metric, inv_cur[u_src]]
    u_uid = np.arange(uid0, uid0 + k)
    uid0 += k
    u_sub, u_cur = inv_sub[u_src], inv_cur[u_src]
    frames.append(_frame(uid=u_uid, event_type="usage.recorded", eff=u_eff, style=np.where(local[u_sub], STYLE_LOCAL, STYLE_Z),
                         sub=u_sub, cur=u_cur, metric=metric, quantity=quantity, unit_amount=unit, usage_no=u_uid))
    correctable = u_eff + 5 * DAY < window_end
    c_idx = np.flatnonzero(_at_least_one(correctable & (rng.random(k) < C.CORRECTION_RATE), rng, correctable))
    new_q = np.where(rng.random(len(c_idx)) < 0.1, 0,
                     np.maximum(1, quantity[c_idx] + ((rng.random(len(c_idx)) - 0.5) * quantity[c_idx]).astype(np.int64)))
    c_uid = np.arange(uid0, uid0 + len(c_idx))
    uid0 += len(c_idx)
    frames.append(_frame(uid=c_uid, event_type="usage.corrected", eff=u_eff[c_idx] + rng.integers(DAY, 5 * DAY, len(c_idx)),
                         style=STYLE_Z, sub=u_sub[c_idx], cur=u_cur[c_idx], metric=metric[c_idx], quantity=new_q,
                         unit_amount=unit[c_idx], usage_no=u_uid[c_idx], target_uid=u_uid[c_idx]))
    final_quantity = quantity.copy()
    final_quantity[c_idx] = new_q
    usage_by_invoice = np.zeros(n_inv, dtype=np.int64)  # the month's usage, as corrected
    np.add.at(usage_by_invoice, u_src, final_quantity * unit)

    # -- a few invoices issued by mistake are reversed (never collected) ------------------------------
    reversible = ~defaulter[inv_sub] & (credit_by_invoice == 0) & (inv_eff + 3 * DAY < window_end)
    v_idx = np.flatnonzero(_at_least_one(reversible & (rng.random(n_inv) < C.INVOICE_REVERSAL_RATE), rng, reversible))
    v_uid = np.arange(uid0, uid0 + len(v_idx))
    uid0 += len(v_idx)
    frames.append(_frame(uid=v_uid, event_type="transaction.reversed", eff=inv_eff[v_idx] + rng.integers(DAY, 3 * DAY, len(v_idx)),
                         style=STYLE_Z, target_uid=inv_uid[v_idx], reason="invoice issued twice"))
    invoiced = inv_amount.copy()
    invoiced[v_idx] = 0

    # -- collections: each invoice with the usage of the month before it; a final bill for the last
    #    usage of a subscription that ended; late payers pay weeks later, defaulters never -------------
    prior_usage = np.where(previous_invoice >= 0, usage_by_invoice[np.maximum(previous_invoice, 0)], 0)
    ended = (next_invoice < 0) & (inv_month < months - 1)
    col_inv = np.concatenate([np.arange(n_inv), np.flatnonzero(ended)])
    col_amount = np.concatenate([invoiced - credit_by_invoice + prior_usage, usage_by_invoice[ended]])
    col_due = np.concatenate([inv_eff, bounds[inv_month[ended] + 1] + anchor[inv_sub[ended]] * DAY])
    col_base = np.concatenate([np.zeros(n_inv, dtype=np.int64), np.full(int(ended.sum()), 10)])  # payment_no 1-3 / 11-13
    keep = col_amount > 0
    col_inv, col_amount, col_due, col_base = col_inv[keep], col_amount[keep], col_due[keep], col_base[keep]
    col_sub = inv_sub[col_inv]
    never = inv_unpaid[col_inv]
    late_days = rng.integers(C.LATE_PAYMENT_DAYS[0] * DAY, C.LATE_PAYMENT_DAYS[1] * DAY, len(col_inv))
    init_eff = col_due + np.where(late_payer[col_sub], late_days, rng.integers(HOUR, 30 * HOUR, len(col_inv)))
    pay_frames, settled = [], []
    p_col = np.arange(len(col_inv))
    attempts = ((1, C.PAYMENT_FAIL_RATE, C.RETRY_DAYS[0]), (2, C.RETRY_FAIL_RATE, C.RETRY_DAYS[1]), (3, 0.0, 0))
    for attempt, fail_rate, retry_days in attempts:
        k = len(p_col)
        i_uid = np.arange(uid0, uid0 + k)
        uid0 += k
        outcome_eff = init_eff + rng.integers(DAY, 3 * DAY, k) + rng.integers(0, 1000, k) * 1000
        failed = (rng.random(k) < fail_rate) | never[p_col]
        if attempt == 1:
            failed = _at_least_one(failed, rng, outcome_eff < window_end)
        o_uid = np.arange(uid0, uid0 + k)
        uid0 += k
        inv = col_inv[p_col]
        common = dict(sub=inv_sub[inv], cur=inv_cur[inv], invoice_uid=inv_uid[inv], payment_no=col_base[p_col] + attempt)
        pay_frames.append(_frame(uid=i_uid, event_type="payment.initiated", eff=init_eff,
                                 style=np.where(local[inv_sub[inv]], STYLE_LOCAL, STYLE_Z), amount=col_amount[p_col], **common))
        pay_frames.append(_frame(uid=o_uid, event_type=np.where(failed, "payment.failed", "payment.settled"), eff=outcome_eff,
                                 style=STYLE_Z, reason=np.where(failed, np.where(rng.random(k) < 0.5, "card_declined", "insufficient_funds"), ""),
                                 **common))
        ok = ~failed & (outcome_eff < window_end)
        settled.append((outcome_eff[ok], inv_cur[inv][ok], col_amount[p_col][ok], inv_sub[inv][ok], inv_uid[inv][ok],
                        common["payment_no"][ok]))
        p_col = p_col[failed]
        init_eff = outcome_eff[failed] + retry_days * DAY
    frames += pay_frames

    s_eff = np.concatenate([s[0] for s in settled])
    s_cur = np.concatenate([s[1] for s in settled])
    s_amount = np.concatenate([s[2] for s in settled])
    s_sub = np.concatenate([s[3] for s in settled])
    s_inv = np.concatenate([s[4] for s in settled])
    s_attempt = np.concatenate([s[5] for s in settled])

    # -- what defaulters owe is written off as bad debt ------------------------------------------------
    unpaid = never & (col_amount > 0)
    owed = pl.DataFrame({"sub": col_sub[unpaid], "amount": col_amount[unpaid], "due": col_due[unpaid]}).group_by("sub").agg(
        pl.col("amount").sum(), pl.col("due").min()).sort("sub")
    w_sub = owed["sub"].to_numpy()
    w_uid = np.arange(uid0, uid0 + owed.height)
    uid0 += owed.height
    frames.append(_frame(uid=w_uid, event_type="journal.posted", eff=owed["due"].to_numpy() + C.WRITE_OFF_DAYS * DAY + 9 * HOUR,
                         style=STYLE_Z, sub=w_sub, cur=cur[w_sub], amount=owed["amount"].to_numpy(), status="posted",
                         journal_kind="writeoff"))

    # -- refunds of some settled payments ---------------------------------------------------------
    refundable = s_eff + 20 * DAY < window_end
    r_idx = np.flatnonzero(_at_least_one(refundable & (rng.random(len(s_eff)) < C.REFUND_RATE), rng, refundable))
    r_amount = np.where(rng.random(len(r_idx)) < 0.5, s_amount[r_idx], np.maximum(1, s_amount[r_idx] // 2))
    r_uid = np.arange(uid0, uid0 + len(r_idx))
    uid0 += len(r_idx)
    frames.append(_frame(uid=r_uid, event_type="refund.issued", eff=s_eff[r_idx] + rng.integers(2 * DAY, 20 * DAY, len(r_idx)),
                         style=STYLE_Z, sub=s_sub[r_idx], cur=s_cur[r_idx], amount=r_amount, invoice_uid=s_inv[r_idx],
                         payment_no=s_attempt[r_idx], credit_no=r_uid))

    # -- provider payouts: in-transit cash of each day's settlements lands in cash, minus fees --------
    day = s_eff // DAY
    payouts = (
        pl.DataFrame({"day": day, "cur": s_cur, "amount": s_amount})
        .group_by("day", "cur").agg(pl.col("amount").sum())
        .sort("day", "cur")
    )
    po_total = payouts["amount"].to_numpy()
    po_fee = po_total * C.PAYOUT_FEE_PER_MILLE // 1000
    po_uid = np.arange(uid0, uid0 + payouts.height)
    uid0 += payouts.height
    frames.append(_frame(uid=po_uid, event_type="journal.posted", eff=(payouts["day"].to_numpy() + 1) * DAY + 6 * HOUR,
                         style=STYLE_Z, cur=payouts["cur"].to_numpy(), amount=po_total, quantity=po_fee,
                         status="posted", journal_kind="payout"))

    # -- month-end accruals: one pending journal posted later, one archived ------------------------------
    if months:
        ends = bounds[1:months + 1] - HOUR
        acc_uid = np.arange(uid0, uid0 + 2 * months)
        uid0 += 2 * months
        acc_amount = rng.integers(50_000, 500_000, 2 * months)
        acc_eff = np.concatenate([ends, ends])
        acc_cur = np.concatenate([np.zeros(months, dtype=np.int64), np.ones(months, dtype=np.int64)])
        frames.append(_frame(uid=acc_uid, event_type="journal.posted", eff=acc_eff, style=STYLE_Z, cur=acc_cur, amount=acc_amount,
                             status="pending", journal_kind="accrual"))
        move_uid = np.arange(uid0, uid0 + 2 * months)
        uid0 += 2 * months
        frames.append(_frame(uid=move_uid, event_type=np.where(acc_cur == 0, "transaction.posted", "transaction.archived"),
                             eff=acc_eff + 2 * DAY, style=STYLE_Z, target_uid=acc_uid))

    events = pl.concat(frames).filter(pl.col("eff") < window_end)  # nothing after the sample's last month
    k = events.height
    # -- recording times: a few minutes later; some invoices and usage much later (backdated) -----------
    delay = rng.integers(0, 5 * MINUTE, k) // US * US
    etype = events["event_type"].to_numpy()
    late_invoice = (etype == "invoice.issued") & (rng.random(k) < C.BACKDATED_INVOICE_RATE)
    late_usage = (etype == "usage.recorded") & (rng.random(k) < C.BACKDATED_USAGE_RATE)
    delay = np.where(late_invoice, rng.integers(2 * DAY, 20 * DAY, k) // US * US, delay)
    delay = np.where(late_usage, rng.integers(DAY, 10 * DAY, k) // US * US, delay)
    given = rng.random(k) >= C.NO_RECORDED_AT_RATE
    events = events.with_columns(rec=pl.Series(events["eff"].to_numpy() + delay), rec_given=pl.Series(given))
    # a correction is recorded after the usage it corrects (and is not recorded-at-less then)
    recorded = events.select("uid", pl.col("rec").alias("target_rec"))
    events = events.join(recorded.rename({"uid": "target_uid"}), on="target_uid", how="left").with_columns(
        rec=pl.when(pl.col("target_rec").is_not_null()).then(pl.max_horizontal("rec", pl.col("target_rec") + MINUTE)).otherwise(pl.col("rec")),
        rec_given=pl.col("rec_given") | pl.col("target_rec").is_not_null(),
    ).drop("target_rec")

    region_names = np.array([r for c in C.CURRENCIES for r in c[3]])
    region_count = np.array([len(c[3]) for c in C.CURRENCIES])
    region_offset = np.concatenate([[0], np.cumsum(region_count)[:-1]])
    region = region_names[region_offset[cur] + (region_pick * region_count[cur]).astype(np.int64)]
    subs = pl.DataFrame({
        "sub": np.arange(n), "cur": cur, "channel": channel, "region": region,
        "unsorted_metadata": rng.random(n) < 0.1,
    })
    return events.select(list(COLUMNS)), subs
