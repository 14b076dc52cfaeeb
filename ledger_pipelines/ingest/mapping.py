"""Mapping: validated events + posting rules -> a :class:`PostingPlan` (and the events a rule refuses).

Vectorised per rule: events are grouped by type and every template is rendered with Polars
string expressions for the whole group at once. Keys and links:

* a posting's idempotency key is its ``event_id``;
* a correction emits a reversal keyed ``event_id + "\\x1freversal"`` (control characters cannot
  occur in event ids, so it never collides) and a phase-1 replacement keyed ``event_id``, whose
  ``correction_of`` is the corrected reference;
* ``metadata`` is the event's canonical metadata; ``source`` is
  ``{"subscription_id", "customer_id", "amount", "currency", "payload", "recorded_at"}``.

Rules can still refuse a valid event here: an account rendered from a value containing ``:``
or an unknown top-level type (``invalid_account``), a computed amount beyond 64 bits
(``amount_out_of_range``) or not above zero (``amount_not_positive``), a rendered currency that
is not ISO 4217 (``unknown_currency``). All rows of a refused event are dropped.

Corrections whose ``from_target`` fields (``unit_amount``, ``metric``) are neither in the event
nor on an earlier event of the batch with the same reference are *deferred*: the replacement's
legs carry a null ``amount`` (and a null ``account`` where a missing field is part of the code),
and ``source`` names what is missing under ``"from_target"``. The database side completes them
with :func:`complete_deferred` from the corrected transaction's ``source.payload`` (see
docs/posting-rules.md, "Corrections").
"""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl

from ledger_pipelines.accounting.accounts import account_code_expr_problem
from ledger_pipelines.accounting.money import CODES
from ledger_pipelines.config import Settings
from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.hashing import instant_text
from ledger_pipelines.ingest.journal import CONDITION
from ledger_pipelines.ingest.row_checks import display
from ledger_pipelines.ingest.rules import AmountExpr, LegRule, PayloadField, Placeholder, PostingSpec, Rule, RuleSet, Template
from ledger_pipelines.ingest.validation import payload_column
from ledger_pipelines.ledger.plan import LEGS_SCHEMA, POSTINGS_SCHEMA, REVERSALS_SCHEMA, TRANSITIONS_SCHEMA, PostingPlan

REVERSAL_KEY_SUFFIX = "\x1freversal"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAP_REJECTS_SCHEMA: dict[str, pl.DataType] = {"seq": pl.Int64, "reason_code": pl.Utf8, "message": pl.Utf8}


# -- expressions ---------------------------------------------------------------------------------------

def _value(placeholder: Placeholder, rule: Rule) -> pl.Expr:
    field = placeholder.payload_field
    if field is None:
        return pl.col(placeholder.name).cast(pl.Utf8)
    return pl.col(payload_column(rule.payload[field])).cast(pl.Utf8)


def render(template: Template | None, rule: Rule) -> pl.Expr:
    """The template for every row; null when an (optional) placeholder has no value."""
    if template is None:
        return pl.lit(None, pl.Utf8)
    parts = [pl.lit(p) if isinstance(p, str) else _value(p, rule) for p in template.parts]
    return pl.concat_str(parts) if parts else pl.lit("")


def amount_expr(expr: AmountExpr, rule: Rule) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """``(amount Int64, overflow flag, is_zero flag)``; amount null when a factor is unknown or on overflow."""
    product: pl.Expr | None = None
    overflow = pl.lit(False)
    zero = pl.lit(False)
    for factor in expr.factors:
        if isinstance(factor, int):
            value = pl.lit(factor, dtype=pl.Int128)
        elif factor.payload_field is None:
            value = pl.col(factor.name).cast(pl.Int128)
        else:
            value = pl.col(payload_column(rule.payload[factor.payload_field])).cast(pl.Int128)
        zero = zero | (value == 0).fill_null(False)
        product = value if product is None else product * value
        overflow = overflow | ((product > INT64_MAX) | (product < INT64_MIN)).fill_null(False)
        product = pl.when(overflow).then(pl.lit(0, dtype=pl.Int128)).otherwise(product)
    assert product is not None
    return pl.when(overflow).then(None).otherwise(product).cast(pl.Int64), overflow, zero


def _conditions_literal(leg: LegRule) -> pl.Expr:
    items = [{"balance": c.balance, "op": c.op, "amount": c.amount} for c in leg.conditions]
    return pl.lit(pl.Series([items], dtype=pl.List(CONDITION))).first()


def source_json() -> pl.Expr:
    """``{"subscription_id", "customer_id", "amount", "currency", "payload", "recorded_at"}`` as JSON text."""
    return pl.concat_str([
        pl.lit('{"subscription_id":'), pl.col("subscription_id_json").fill_null("null"),
        pl.lit(',"customer_id":'), pl.col("customer_id_json").fill_null("null"),
        pl.lit(',"amount":'), pl.coalesce(pl.col("amount").cast(pl.Utf8), pl.col("amount_json"), pl.lit("null")),
        pl.lit(',"currency":'), pl.col("currency_json").fill_null("null"),
        pl.lit(',"payload":'), pl.col("payload").fill_null("null"),
        pl.lit(',"recorded_at":"'), instant_text(pl.col("recorded_at")), pl.lit('"'),
        pl.lit("}"),
    ])


# -- per action -----------------------------------------------------------------------------------------

class _Collector:
    def __init__(self) -> None:
        self.postings: list[pl.DataFrame] = []
        self.legs: list[pl.DataFrame] = []
        self.transitions: list[pl.DataFrame] = []
        self.reversals: list[pl.DataFrame] = []
        self.rejects: list[pl.DataFrame] = []

    def reject(self, group: pl.DataFrame, condition: pl.Expr, code: str, message: pl.Expr) -> pl.DataFrame:
        """Record ``code`` for rows where ``condition`` holds; return the remaining rows."""
        hit = group.filter(condition.fill_null(False))
        if hit.height:
            self.rejects.append(hit.select("seq", pl.lit(code).alias("reason_code"), message.cast(pl.Utf8).alias("message")))
        return group.filter(~condition.fill_null(False))


def _posting_rows(group: pl.DataFrame, *, key: pl.Expr, status: pl.Expr, reference: pl.Expr, description: pl.Expr,
                  phase: int, correction_of: pl.Expr) -> pl.DataFrame:
    return group.select(
        "seq", key.alias("idempotency_key"), "event_id", "event_type", status.alias("status"), "effective_at",
        reference.alias("reference"), description.alias("description"), "metadata", source_json().alias("source"),
        "content_hash", pl.lit(phase, dtype=pl.Int8).alias("phase"), correction_of.alias("correction_of"),
    )


def _map_fixed_legs(out: _Collector, group: pl.DataFrame, rule: Rule, spec: PostingSpec, *, key: pl.Expr,
                    phase: int, correction_of: pl.Expr, account_types: dict[str, str],
                    deferrable: tuple[str, ...] = ()) -> None:
    """A ``post`` rule (or a correction's replacement): legs from templates on one amount."""
    amount, overflow, zero = amount_expr(spec.amount, rule)
    group = group.with_columns(_amount=amount, _overflow=overflow, _zero=zero, _currency=render(spec.currency, rule))
    group = out.reject(group, pl.col("_overflow"), R.AMOUNT_OUT_OF_RANGE,
                       pl.format("the amount {} = {} does not fit in a signed 64-bit integer; check the factors' units.",
                                 pl.lit(spec.amount.source), _factors_text(spec.amount, rule)))
    if phase == 1:  # a correction to zero reverses without a replacement
        group = group.filter(~pl.col("_zero"))
    group = out.reject(group, pl.col("_amount").is_not_null() & (pl.col("_amount") <= 0), R.AMOUNT_NOT_POSITIVE,
                       pl.format("the amount {} = {} is not greater than zero.", pl.lit(spec.amount.source), pl.col("_amount")))
    group = out.reject(group, pl.col("_currency").is_null() | ~pl.col("_currency").is_in(sorted(CODES)), R.UNKNOWN_CURRENCY,
                       pl.format("the rule's currency {} renders {}, which is not an ISO 4217 code.",
                                 pl.lit(spec.currency.source), display(pl.col("_currency"))))
    for number, leg in enumerate(spec.legs):
        for placeholder in leg.account.placeholders:
            if placeholder.payload_field in deferrable:
                continue
            value = _value(placeholder, rule)
            group = out.reject(group, value.str.contains(":", literal=True), R.INVALID_ACCOUNT,
                               pl.format("{} {} contains ':', so it cannot be used inside the account {}; ids put into "
                                         "account codes must not contain ':'.", pl.lit(placeholder.name), display(value),
                                         pl.lit(leg.account.source)))
        group = group.with_columns(render(leg.account, rule).alias(f"_account{number}"))
        group = _check_accounts(out, group, f"_account{number}", leg.account.source, account_types)
    if group.is_empty():
        return
    out.postings.append(_posting_rows(
        group, key=key, status=pl.lit(spec.status), reference=render(spec.reference, rule),
        description=render(spec.description, rule), phase=phase, correction_of=correction_of,
    ))
    for number, leg in enumerate(spec.legs):
        out.legs.append(group.select(
            "seq", key.alias("idempotency_key"), pl.lit(number, dtype=pl.Int32).alias("leg_no"),
            pl.col(f"_account{number}").alias("account"), pl.lit(leg.direction).alias("direction"),
            pl.col("_amount").alias("amount"), pl.col("_currency").alias("currency"),
            pl.lit(None, pl.Int64).alias("lock_version"), _conditions_literal(leg).alias("conditions"),
        ))


def _check_accounts(out: _Collector, group: pl.DataFrame, column: str, source: str,
                    account_types: dict[str, str]) -> pl.DataFrame:
    """Refuse rows whose rendered account is not a valid code (checked once per distinct code)."""
    codes = group.select(pl.col(column).alias("_code")).unique().drop_nulls()
    codes = codes.with_columns(_problem=account_code_expr_problem(pl.col("_code"), account_types))
    bad = codes.filter(pl.col("_problem").is_not_null())
    if bad.is_empty():
        return group
    flagged = group.join(bad.rename({"_code": column}), on=column, how="left", maintain_order="left")
    return out.reject(flagged, pl.col("_problem").is_not_null(), R.INVALID_ACCOUNT,
                      pl.format("the account {} rendered from {} is not valid: {}.", display(pl.col(column)),
                                pl.lit(source), pl.col("_problem"))).drop("_problem")


def _factors_text(expr: AmountExpr, rule: Rule) -> pl.Expr:
    parts = []
    for factor in expr.factors:
        if isinstance(factor, int):
            parts.append(pl.lit(str(factor)))
        elif factor.payload_field is None:
            parts.append(pl.col(factor.name).cast(pl.Utf8))
        else:
            parts.append(pl.col(payload_column(rule.payload[factor.payload_field])).cast(pl.Utf8))
    return pl.concat_str(parts, separator=" x ")


def _map_journal(out: _Collector, group: pl.DataFrame, rule: Rule) -> None:
    status = pl.coalesce(pl.col(payload_column(rule.payload["status"])), pl.lit("posted"))
    out.postings.append(_posting_rows(
        group, key=pl.col("event_id"), status=status, reference=render(rule.reference, rule),
        description=render(rule.description, rule), phase=0, correction_of=pl.lit(None, pl.Utf8),
    ))
    legs = (
        group.select("seq", pl.col("event_id").alias("idempotency_key"), pl.col("payload.legs#legs").alias("leg"))
        .with_columns(leg_no=pl.int_ranges(pl.col("leg").list.len()))
        .explode("leg", "leg_no")
        .unnest("leg")
    )
    out.legs.append(legs.select(
        "seq", "idempotency_key", pl.col("leg_no").cast(pl.Int32), "account", "direction", "amount", "currency",
        "lock_version", "conditions",
    ))


def _map_transition(out: _Collector, group: pl.DataFrame, rule: Rule) -> None:
    out.transitions.append(group.select(
        "seq", "event_id", "event_type", pl.lit(rule.to_status).alias("to_status"), pl.col("effective_at").alias("at"),
        render(rule.target_event_id, rule).alias("target_key"), render(rule.target_reference, rule).alias("target_reference"),
        "content_hash",
    ))


def _reversal_rows(group: pl.DataFrame, *, key: pl.Expr, target_key: pl.Expr, target_reference: pl.Expr,
                   reason: pl.Expr) -> pl.DataFrame:
    return group.select(
        "seq", key.alias("idempotency_key"), "event_id", "event_type", "effective_at", target_key.alias("target_key"),
        target_reference.alias("target_reference"), reason.alias("reason"), "metadata", source_json().alias("source"),
        "content_hash",
    )


def _map_reverse(out: _Collector, group: pl.DataFrame, rule: Rule) -> None:
    out.reversals.append(_reversal_rows(
        group, key=pl.col("event_id"), target_key=render(rule.target_event_id, rule),
        target_reference=render(rule.target_reference, rule), reason=render(rule.reason, rule),
    ))


def _map_correct(out: _Collector, group: pl.DataFrame, rule: Rule, known: Callable[[], pl.DataFrame],
                 account_types: dict[str, str]) -> None:
    assert rule.posting is not None and rule.target_reference is not None
    group = group.with_columns(_target=render(rule.target_reference, rule))
    if any(group[payload_column(rule.payload[f])].null_count() for f in rule.from_target):
        group = _fill_from_batch(group, rule, known())
    missing = [pl.when(pl.col(payload_column(rule.payload[f])).is_null()).then(pl.lit(f)) for f in rule.from_target]
    group = group.with_columns(
        _missing=pl.concat_list(missing).list.drop_nulls() if missing else pl.lit([], dtype=pl.List(pl.Utf8))
    )
    # Record what the database must fill in, in the source document.
    deferred = pl.col("_missing").list.len() > 0
    marker = pl.concat_str([
        pl.lit(',"from_target":{"reference":'), jsontext.json_string(pl.col("_target")),
        pl.lit(',"fields":['), pl.col("_missing").list.eval(jsontext.json_string(pl.element())).list.join(","), pl.lit("]}}"),
    ])
    reason = pl.format("corrected by {}", pl.col("event_id"))
    before = len(out.rejects)
    replacements = _Collector()
    _map_fixed_legs(replacements, group, rule, rule.posting, key=pl.col("event_id"), phase=1,
                    correction_of=pl.col("_target"), account_types=account_types, deferrable=rule.from_target)
    out.rejects += replacements.rejects
    refused = pl.concat([r.select("seq") for r in out.rejects[before:]]) if len(out.rejects) > before else None
    kept = group.join(refused, on="seq", how="anti") if refused is not None else group
    out.reversals.append(_reversal_rows(
        kept, key=pl.col("event_id") + pl.lit(REVERSAL_KEY_SUFFIX), target_key=pl.lit(None, pl.Utf8),
        target_reference=pl.col("_target"), reason=reason,
    ))
    if replacements.postings:
        postings = pl.concat(replacements.postings)
        flags = kept.select("seq", deferred.alias("_deferred"), marker.alias("_marker"))
        postings = postings.join(flags, on="seq", how="left").with_columns(
            source=pl.when(pl.col("_deferred")).then(pl.col("source").str.strip_suffix("}") + pl.col("_marker"))
            .otherwise(pl.col("source"))
        ).drop("_deferred", "_marker")
        out.postings.append(postings)
        out.legs += replacements.legs


def _fill_from_batch(group: pl.DataFrame, rule: Rule, known: pl.DataFrame) -> pl.DataFrame:
    """Missing ``from_target`` fields from the latest earlier event of the batch with the same reference."""
    for name in rule.from_target:
        column = payload_column(rule.payload[name])
        if column not in known.columns:
            continue
        candidates = known.select(pl.col("seq").alias("_from_seq"), pl.col("reference").alias("_target"),
                                  pl.col(column).alias("_found")).drop_nulls().sort("_from_seq")
        if candidates.is_empty():
            continue
        looked_up = (
            group.select("seq", "_target").sort("seq")
            .join_asof(candidates, left_on="seq", right_on="_from_seq", by="_target", strategy="backward",
                       allow_exact_matches=False, check_sortedness=False)
            .select("seq", "_found")
        )
        group = group.join(looked_up, on="seq", how="left").with_columns(
            pl.coalesce(pl.col(column), pl.col("_found").cast(group.schema[column])).alias(column)
        ).drop("_found")
    return group


def _references(events: pl.DataFrame, rules: RuleSet) -> pl.DataFrame:
    """``seq, reference`` plus the from_target fields, for every event that posts under a reference."""
    wanted: dict[str, PayloadField] = {}
    for rule in rules.rules.values():
        for name in rule.from_target:
            wanted[payload_column(rule.payload[name])] = rule.payload[name]
    if not wanted:
        return pl.DataFrame(schema={"seq": pl.Int64, "reference": pl.Utf8})
    parts = []
    for (event_type,), group in events.group_by("event_type"):
        rule = rules.rules[str(event_type)]
        if rule.posting is None or rule.posting.reference is None:
            continue
        columns = [pl.col(c) if c in group.columns else pl.lit(None).alias(c) for c in wanted]
        parts.append(group.select("seq", render(rule.posting.reference, rule).alias("reference"), *columns)
                     .cast({c: (pl.Int64 if f.type == "integer" else pl.Utf8) for c, f in wanted.items()}))
    if not parts:
        return pl.DataFrame(schema={"seq": pl.Int64, "reference": pl.Utf8})
    return pl.concat(parts).drop_nulls("reference")


# -- entry point ------------------------------------------------------------------------------------------

def map_events(events: pl.DataFrame, rules: RuleSet, settings: Settings | None = None) -> tuple[PostingPlan, pl.DataFrame]:
    """Map validated events (with ``content_hash``) to a plan; return it and the refused events.

    ``settings`` is accepted for symmetry with the rest of ingestion (time zone, limits); the
    mapping itself depends only on the rules.
    """
    account_types = dict(rules.account_types)
    out = _Collector()
    cache: list[pl.DataFrame] = []

    def known() -> pl.DataFrame:  # references of the batch, only when a correction needs them
        if not cache:
            cache.append(_references(events, rules))
        return cache[0]

    narrow = events.drop([c for c in ("raw", "line_no", "source_file") if c in events.columns])
    groups = narrow.partition_by("event_type", as_dict=True, maintain_order=True) if narrow.height else {}
    for (event_type,), group in sorted(groups.items()):
        rule = rules.rules[str(event_type)]
        if rule.action == "post":
            assert rule.posting is not None
            _map_fixed_legs(out, group, rule, rule.posting, key=pl.col("event_id"), phase=0,
                            correction_of=pl.lit(None, pl.Utf8), account_types=account_types)
        elif rule.action == "journal":
            _map_journal(out, group, rule)
        elif rule.action == "transition":
            _map_transition(out, group, rule)
        elif rule.action == "reverse":
            _map_reverse(out, group, rule)
        elif rule.action == "correct":
            _map_correct(out, group, rule, known, account_types)
    rejects = (pl.concat(out.rejects).unique("seq", keep="first", maintain_order=True) if out.rejects
               else pl.DataFrame(schema=MAP_REJECTS_SCHEMA))

    def frame(parts: list[pl.DataFrame], schema: dict[str, pl.DataType]) -> pl.DataFrame:
        if not parts:
            return pl.DataFrame(schema=schema)
        combined = pl.concat([p.select(list(schema)).cast(schema) for p in parts])
        if rejects.height:
            combined = combined.filter(~pl.col("seq").is_in(rejects["seq"].implode()))
        if "leg_no" in schema:  # ordered by (seq, leg_no) through a narrow key, then one gather
            order = combined.select(pl.arg_sort_by("seq", "leg_no")).to_series()
            return combined[order]
        return combined.sort("seq")

    plan = PostingPlan(
        postings=frame(out.postings, POSTINGS_SCHEMA),
        legs=frame(out.legs, LEGS_SCHEMA),
        transitions=frame(out.transitions, TRANSITIONS_SCHEMA),
        reversals=frame(out.reversals, REVERSALS_SCHEMA),
    ).conform()
    return plan, rejects.select(list(MAP_REJECTS_SCHEMA)).cast(MAP_REJECTS_SCHEMA)


# -- deferred corrections (for the database side) ----------------------------------------------------------

def deferred_postings(plan: PostingPlan) -> pl.DataFrame:
    """Phase-1 postings still waiting for fields of the corrected transaction: seq, reference, fields."""
    phase1 = plan.postings.filter(pl.col("phase") == 1)
    marked = phase1.filter(pl.col("source").str.contains('"from_target":', literal=True))
    return marked.select(
        "seq", "idempotency_key", pl.col("correction_of").alias("reference"),
    )


def complete_deferred(plan: PostingPlan, target_payloads: pl.DataFrame, rules: RuleSet) -> tuple[PostingPlan, pl.DataFrame]:
    """Fill deferred replacements from the corrected transactions' payloads.

    ``target_payloads`` has ``reference`` and ``payload`` (the JSON ``source.payload`` of the
    transaction each reference currently names in the ledger). For every deferred phase-1 posting
    the missing ``from_target`` fields are taken from that payload, and the legs' amounts and
    accounts are computed by the same rule code as any other posting. Returns the completed plan
    and refusals (``seq, reason_code, message``): ``unknown_target`` when no payload was given
    for a reference, or the mapping reasons (e.g. ``amount_out_of_range``).
    """
    waiting = deferred_postings(plan)
    if waiting.is_empty():
        return plan, pl.DataFrame(schema=MAP_REJECTS_SCHEMA)
    postings = plan.postings.join(waiting.select("seq", "idempotency_key"), on=["seq", "idempotency_key"], how="semi")
    rows = []
    for seq, key, event_type, source, reference in postings.select(
        "seq", "idempotency_key", "event_type", "source", "correction_of"
    ).iter_rows():
        rows.append({"seq": seq, "key": key, "event_type": event_type, "source": json.loads(source), "reference": reference})
    targets = dict(zip(target_payloads["reference"].to_list(), target_payloads["payload"].to_list(), strict=False))
    refusals = []
    completed_legs = []
    for row in rows:  # one per deferred correction (rare: the original was in an earlier batch)
        rule = rules.rules[row["event_type"]]
        target = targets.get(row["reference"])
        if target is None:
            refusals.append({"seq": row["seq"], "reason_code": "unknown_target",
                             "message": f"no current transaction has reference {row['reference']}; post the original first."})
            continue
        target_payload = json.loads(target) if isinstance(target, str) else dict(target)
        payload = dict(row["source"]["payload"])
        for name in row["source"]["from_target"]["fields"]:
            if name in target_payload:
                payload[name] = target_payload[name]
        completed_legs.append(_replacement_legs(row, payload, rule))
    new_legs = [leg for legs in completed_legs if legs is not None for leg in legs[0]]
    refusals += [legs[1] for legs in completed_legs if legs is not None and legs[1] is not None]
    refused_seqs = {r["seq"] for r in refusals}
    filled = pl.DataFrame(new_legs, schema=LEGS_SCHEMA) if new_legs else pl.DataFrame(schema=LEGS_SCHEMA)
    filled = filled.filter(~pl.col("seq").is_in(list(refused_seqs)))
    legs = pl.concat([plan.legs.join(waiting.select("seq", "idempotency_key"), on=["seq", "idempotency_key"], how="anti"), filled])
    keep = ~pl.col("seq").is_in(list(refused_seqs))
    completed = PostingPlan(
        postings=plan.postings.filter(keep), legs=legs.filter(keep).sort("seq", "leg_no"),
        transitions=plan.transitions.filter(keep), reversals=plan.reversals.filter(keep),
    ).conform()
    return completed, pl.DataFrame(refusals, schema=MAP_REJECTS_SCHEMA)


def _replacement_legs(row: dict, payload: dict, rule: Rule) -> tuple[list[dict], dict | None] | None:
    """Legs of one completed replacement (Python: only deferred corrections come here)."""
    spec = rule.posting
    assert spec is not None
    source = row["source"]

    def value(placeholder: Placeholder) -> object:
        if placeholder.payload_field is not None:
            return payload.get(placeholder.payload_field)
        return source.get(placeholder.name) if placeholder.name != "event_id" else None

    def refuse(code: str, message: str) -> tuple[list[dict], dict]:
        return [], {"seq": row["seq"], "reason_code": code, "message": message}

    amount = 1
    for factor in spec.amount.factors:
        raw = factor if isinstance(factor, int) else value(factor)
        try:
            number = int(str(raw))
        except ValueError:
            return refuse(R.AMOUNT_NOT_INTEGER, f"{factor} of the corrected posting is {raw!r}, not an integer.")
        amount *= number
    if not INT64_MIN <= amount <= INT64_MAX:
        return refuse(R.AMOUNT_OUT_OF_RANGE, f"the corrected amount {amount} does not fit in a signed 64-bit integer.")
    if amount <= 0:
        return refuse(R.AMOUNT_NOT_POSITIVE, f"the corrected amount {amount} is not greater than zero.")
    legs = []
    for number, leg in enumerate(spec.legs):
        text = "".join(p if isinstance(p, str) else str(value(p)) for p in leg.account.parts)
        legs.append({
            "seq": row["seq"], "idempotency_key": row["key"], "leg_no": number, "account": text, "direction": leg.direction,
            "amount": amount, "currency": source.get("currency"), "lock_version": None,
            "conditions": [{"balance": c.balance, "op": c.op, "amount": c.amount} for c in leg.conditions],
        })
    return legs, None
