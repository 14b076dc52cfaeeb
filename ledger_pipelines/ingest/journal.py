"""Journal legs (``journal.posted``): checked leg by leg, then balanced per currency.

A journal's ``payload.legs`` is a list of at least two objects::

    {"account": "assets:cash", "direction": "debit", "amount": 1000, "currency": "USD",
     "conditions": {"available": {"gte": 0}}, "lock_version": 7}

``conditions`` and ``lock_version`` are optional; any other key is refused (``invalid_legs``), so
a typo such as ``"ammount"`` cannot silently drop a value. Legs are exploded into one row each and
checked with the same declarative specs as everything else; an event is rejected for its first
failing leg. Balanced means: per currency, the debit total equals the credit total (summed in
128 bits; a total beyond 64 bits is ``amount_out_of_range``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ledger_pipelines.accounting.accounts import account_code_expr_problem
from ledger_pipelines.accounting.money import CODES
from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.row_checks import CheckSpec, display, run_checks
from ledger_pipelines.ingest.rules import BALANCES, OPS
from ledger_pipelines.ingest.validation.columns import REJECT_COLUMNS
from ledger_pipelines.ingest.validation.fields import a_kind, integer_columns, integer_specs, integer_value, kind_of

LEG_FIELDS = ("account", "direction", "amount", "currency", "conditions", "lock_version")
CONDITION = pl.Struct({"balance": pl.Utf8, "op": pl.Utf8, "amount": pl.Int64})
LEG = pl.Struct({
    "account": pl.Utf8, "direction": pl.Utf8, "amount": pl.Int64, "currency": pl.Utf8,
    "lock_version": pl.Int64, "conditions": pl.List(CONDITION),
})
INT64_MAX = 2**63 - 1


@dataclass
class JournalResult:
    legs: pl.DataFrame  # seq, legs (List[LEG]), legs_json (canonical JSON array)
    rejects: pl.DataFrame  # REJECT_COLUMNS


def validate_journal(group: pl.DataFrame, account_types: dict[str, str]) -> JournalResult:
    """Check the legs of journal events (``group`` from validation, with ``_pj.legs``)."""
    events = group.select("seq", "line_no", "event_id", "event_type", pl.lit(None, pl.Binary).alias("raw"), "source_file",
                          pl.col("_pj.legs").alias("legs_json"))
    legs_kind = kind_of(pl.col("legs_json"))
    events = events.with_columns(_elements=jsontext.array_elements(events["legs_json"]))
    event_specs = [
        CheckSpec(R.MISSING_FIELD, "payload.legs", pl.col("legs_json").is_not_null(),
                  pl.lit("payload.legs is missing; a journal needs at least two legs, e.g. [{\"account\": \"assets:cash\", "
                         "\"direction\": \"debit\", \"amount\": 100, \"currency\": \"USD\"}, {...credit...}].")),
        CheckSpec(R.INVALID_LEGS, "payload.legs", legs_kind == "array",
                  pl.format("payload.legs must be a list of leg objects, not {} ({}).", a_kind(legs_kind), display(pl.col("legs_json")))),
        CheckSpec(R.INVALID_LEGS, "payload.legs", pl.col("_elements").list.len() >= 2,
                  pl.format("payload.legs has {} leg(s); a journal needs at least two (a debit and a credit).",
                            pl.col("_elements").list.len())),
    ]
    rejects = [_to_rejects(events, run_checks(events, event_specs))]
    events = events.join(rejects[0].select("seq"), on="seq", how="anti")

    legs = (
        events.select("seq", pl.col("_elements").alias("element"))
        .with_columns(leg_no=pl.int_ranges(pl.col("element").list.len()))
        .explode("element", "leg_no")
        .with_columns(pl.col("leg_no").cast(pl.Int32))
    )
    fields = jsontext.object_fields(legs["element"], LEG_FIELDS)
    legs = pl.concat([legs, fields], how="horizontal").with_columns(
        **{f"{f}_value": jsontext.unquote(fields[f]) for f in ("account", "direction", "currency")},
        amount_text=pl.when(kind_of(pl.col("amount")) == "string").then(jsontext.unquote(fields["amount"]))
        .when(kind_of(pl.col("amount")) == "number").then(pl.col("amount")),
        lock_text=pl.when(kind_of(pl.col("lock_version")) == "number").then(pl.col("lock_version")),
    )
    legs = legs.with_columns(integer_columns("amount_text"))
    legs = legs.with_columns(_account_problem=account_code_expr_problem(pl.col("account_value"), account_types))
    conditions = _conditions(legs)
    legs = legs.join(conditions, on=["seq", "leg_no"], how="left")
    rejects.append(_leg_rejects(events, legs))
    events = events.join(rejects[-1].select("seq"), on="seq", how="anti")
    legs = legs.join(events.select("seq"), on="seq", how="semi")
    legs = legs.with_columns(amount_value=integer_value(pl.col("amount_text")), lock_value=integer_value(pl.col("lock_text")))
    unbalanced = _unbalanced(events, legs)
    rejects.append(unbalanced)
    legs = legs.join(unbalanced.select("seq"), on="seq", how="anti")

    leg_struct = pl.struct(
        account=pl.col("account_value"), direction=pl.col("direction_value"), amount=pl.col("amount_value"),
        currency=pl.col("currency_value"), lock_version=pl.col("lock_value"),
        conditions=pl.col("condition_list").fill_null(pl.lit([], dtype=pl.List(CONDITION))),
    ).cast(LEG)
    canonical = pl.concat_str([
        pl.lit('{"account":'), pl.col("account"),
        pl.lit(',"amount":'), pl.col("amount_value").cast(pl.Utf8),
        pl.when(pl.col("condition_json").is_not_null()).then(pl.lit(',"conditions":') + pl.col("condition_json")).otherwise(pl.lit("")),
        pl.lit(',"currency":'), pl.col("currency"),
        pl.lit(',"direction":'), pl.col("direction"),
        pl.when(pl.col("lock_value").is_not_null()).then(pl.lit(',"lock_version":') + pl.col("lock_value").cast(pl.Utf8)).otherwise(pl.lit("")),
        pl.lit("}"),
    ])
    out = (
        legs.sort("seq", "leg_no")
        .group_by("seq", maintain_order=True)
        .agg(leg_struct.alias("legs"), (pl.lit("[") + canonical.str.join(",") + pl.lit("]")).alias("legs_json"))
    )
    return JournalResult(legs=out, rejects=pl.concat(rejects))


def _leg_rejects(events: pl.DataFrame, legs: pl.DataFrame) -> pl.DataFrame:
    label = lambda name: pl.format("payload.legs[{}].{}", pl.col("leg_no"), pl.lit(name))  # noqa: E731
    where = pl.format("payload.legs[{}]", pl.col("leg_no"))
    element_kind = kind_of(pl.col("element"))
    unknown = pl.col("_keys").list.set_difference(pl.lit(list(LEG_FIELDS)))
    account_kind = kind_of(pl.col("account"))
    currency = pl.col("currency_value")
    specs = [
        CheckSpec(R.INVALID_LEGS, "leg", element_kind == "object",
                  pl.format("{} must be an object with account, direction, amount and currency, not {} ({}).", where,
                            a_kind(element_kind), display(pl.col("element")))),
        CheckSpec(R.INVALID_LEGS, "leg", pl.col("_keys").list.n_unique() == pl.col("_keys").list.len(),
                  pl.format("{} has a key more than once; send each key once.", where)),
        CheckSpec(R.INVALID_LEGS, "leg", unknown.list.len() == 0,
                  pl.format("{} has the unknown field(s) {}; a leg has only {}.", where, unknown.list.join(", "),
                            pl.lit(", ".join(LEG_FIELDS)))),
        CheckSpec(R.INVALID_LEGS, "account", pl.col("account").is_not_null(),
                  pl.format("{} is missing; name the account, e.g. \"assets:cash\".", label("account"))),
        CheckSpec(R.INVALID_ACCOUNT, "account", account_kind == "string",
                  pl.format("{} must be a string, not {} ({}).", label("account"), a_kind(account_kind), display(pl.col("account")))),
        CheckSpec(R.INVALID_ACCOUNT, "account", pl.col("_account_problem").is_null(),
                  pl.format("{} {} is not a valid account: {}.", label("account"), display(pl.col("account")),
                            pl.col("_account_problem"))),
        CheckSpec(R.INVALID_LEGS, "direction", pl.col("direction_value").is_in(["debit", "credit"]),
                  pl.format("{} is {} but must be \"debit\" or \"credit\".", label("direction"), display(pl.col("direction")))),
        CheckSpec(R.INVALID_LEGS, "amount", pl.col("amount").is_not_null(),
                  pl.format("{} is missing; give the amount in minor units.", label("amount"))),
        *integer_specs("amount", "amount", "amount_text", pl.lit(True), positive=True, label=label("amount")),
        CheckSpec(R.INVALID_LEGS, "currency", pl.col("currency").is_not_null(),
                  pl.format("{} is missing; give an ISO 4217 code such as \"USD\".", label("currency"))),
        CheckSpec(R.UNKNOWN_CURRENCY, "currency", currency.is_not_null() & currency.is_in(sorted(CODES)),
                  pl.format("{} {} is not an active upper-case ISO 4217 code; use e.g. \"USD\".", label("currency"),
                            display(pl.col("currency")))),
        CheckSpec(R.INVALID_LEGS, "lock_version",
                  pl.col("lock_version").is_null()
                  | (pl.col("lock_text").str.contains(r"^[0-9]+$") & integer_value(pl.col("lock_text")).is_not_null()),
                  pl.format("{} is {} but must be a non-negative integer (the account version you last read).",
                            label("lock_version"), display(pl.col("lock_version")))),
        CheckSpec(R.INVALID_CONDITION, "conditions", pl.col("condition_problem").is_null(),
                  pl.format("{} {} is not valid: {}; write it like {}.", label("conditions"), display(pl.col("conditions")),
                            pl.col("condition_problem"), pl.lit('{"available": {"gte": 0}}'))),
    ]
    failures = run_checks(legs, specs)
    if failures.is_empty():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    first = (
        legs.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64)).join(failures, on="row")
        .sort("seq", "leg_no").unique("seq", keep="first", maintain_order=True)
        .select("seq", "reason_code", "message")
    )
    return _attach(events, first)


def _conditions(legs: pl.DataFrame) -> pl.DataFrame:
    """Per leg: ``condition_list`` (List[CONDITION]), ``condition_json`` (canonical), ``condition_problem``."""
    schema = {"seq": pl.Int64, "leg_no": pl.Int32, "condition_list": pl.List(CONDITION), "condition_json": pl.Utf8,
              "condition_problem": pl.Utf8}
    given = legs.filter(pl.col("conditions").is_not_null()).select("seq", "leg_no", "conditions")
    if given.is_empty():
        return pl.DataFrame(schema=schema)
    given = given.with_columns(_kind=kind_of(pl.col("conditions")))
    not_object = given.filter(pl.col("_kind") != "object").select(
        "seq", "leg_no", pl.lit("it must be an object keyed by posted, pending or available").alias("condition_problem"))
    objects = given.filter(pl.col("_kind") == "object").with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    outer = jsontext.object_entries(objects["conditions"]).join(objects.select("row", "seq", "leg_no"), on="row")
    outer = outer.with_columns(_kind=kind_of(pl.col("value"))).with_row_index("row2").with_columns(pl.col("row2").cast(pl.Int64))
    inner = jsontext.object_entries(outer.filter(pl.col("_kind") == "object")["value"])
    inner_rows = outer.filter(pl.col("_kind") == "object").select(pl.int_range(pl.len()).cast(pl.Int64).alias("row"), "row2")
    inner = inner.join(inner_rows, on="row").join(outer.select("row2", "seq", "leg_no", pl.col("key").alias("balance")), on="row2")
    inner = inner.with_columns(
        _num=pl.when(kind_of(pl.col("value")) == "number").then(pl.col("value"))
        .when(kind_of(pl.col("value")) == "string").then(jsontext.unquote(inner["value"])),
    ).with_columns(_amount=integer_value(pl.col("_num")))
    problems = pl.concat([
        not_object,
        outer.filter(~pl.col("key").is_in(list(BALANCES))).select(
            "seq", "leg_no", pl.format("{} is not a balance (use posted, pending or available)", pl.col("key_json")).alias("condition_problem")),
        outer.filter(pl.col("_kind") != "object").select(
            "seq", "leg_no", pl.format("{} must map an operator to an amount", pl.col("key_json")).alias("condition_problem")),
        inner.filter(~pl.col("key").is_in(list(OPS))).select(
            "seq", "leg_no", pl.format("{} is not an operator (use gte, lte or eq)", pl.col("key_json")).alias("condition_problem")),
        inner.filter(pl.col("_amount").is_null()).select(
            "seq", "leg_no", pl.format("the bound {} is not an integer in minor units", pl.col("value")).alias("condition_problem")),
        objects.join(outer.select("seq", "leg_no").unique(), on=["seq", "leg_no"], how="anti").select(
            "seq", "leg_no", pl.lit("it names no bound").alias("condition_problem")),
    ]).unique(["seq", "leg_no"], keep="first", maintain_order=True)
    good = inner.join(problems, on=["seq", "leg_no"], how="anti").sort("seq", "leg_no", "balance", "key")
    per_balance = good.group_by("seq", "leg_no", "balance", maintain_order=True).agg(
        pl.struct(balance=pl.col("balance"), op=pl.col("key"), amount=pl.col("_amount")).alias("items"),
        (pl.lit("{") + pl.concat_str([pl.col("key_json"), pl.lit(":"), pl.col("_amount").cast(pl.Utf8)]).str.join(",") + pl.lit("}")).alias("body"),
    ).with_columns(balance_json=jsontext.json_string(pl.col("balance")))
    per_leg = per_balance.group_by("seq", "leg_no", maintain_order=True).agg(
        pl.col("items").list.explode(keep_nulls=False, empty_as_null=False).alias("condition_list"),
        (pl.lit("{") + pl.concat_str([pl.col("balance_json"), pl.lit(":"), pl.col("body")]).str.join(",") + pl.lit("}")).alias("condition_json"),
    )
    out = pl.concat([
        per_leg.with_columns(condition_problem=pl.lit(None, pl.Utf8)),
        problems.with_columns(condition_list=pl.lit(None, pl.List(CONDITION)), condition_json=pl.lit(None, pl.Utf8)),
    ], how="diagonal_relaxed")
    return out.select(list(schema)).cast(schema)


def _unbalanced(events: pl.DataFrame, legs: pl.DataFrame) -> pl.DataFrame:
    signed = pl.when(pl.col("direction_value") == "debit").then(pl.col("amount_value").cast(pl.Int128)).otherwise(0)
    credit = pl.when(pl.col("direction_value") == "credit").then(pl.col("amount_value").cast(pl.Int128)).otherwise(0)
    totals = legs.group_by("seq", "currency_value").agg(debits=signed.sum(), credits=credit.sum())
    too_big = totals.filter((pl.col("debits") > INT64_MAX) | (pl.col("credits") > INT64_MAX)).sort("seq", "currency_value").select(
        "seq", pl.lit(R.AMOUNT_OUT_OF_RANGE).alias("reason_code"),
        pl.format("the {} legs of payload.legs total more than 9223372036854775807 minor units; split the journal.",
                  pl.col("currency_value")).alias("message"))
    off = totals.filter(pl.col("debits") != pl.col("credits")).sort("seq", "currency_value").select(
        "seq", pl.lit(R.UNBALANCED).alias("reason_code"),
        pl.format("payload.legs do not balance in {}: debits total {} but credits total {} (difference {}); every journal "
                  "must have equal debits and credits per currency.", pl.col("currency_value"),
                  pl.col("debits").cast(pl.Utf8), pl.col("credits").cast(pl.Utf8),
                  (pl.col("debits") - pl.col("credits")).cast(pl.Utf8)).alias("message"))
    found = pl.concat([too_big, off]).unique("seq", keep="first", maintain_order=True)
    return _attach(events, found)


def _attach(events: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    if found.is_empty():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    return events.join(found, on="seq").select(list(REJECT_COLUMNS)).cast(REJECT_COLUMNS)


def _to_rejects(frame: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    if failures.is_empty():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    picked = frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64)).join(failures, on="row")
    return picked.select(list(REJECT_COLUMNS)).cast(REJECT_COLUMNS)
