"""Declarative checks run through Pandera, turned into one reason code + message per failing row.

A :class:`CheckSpec` is one rule of the contract: a reason code, the field it is about, a Polars
expression that is true for rows that pass, and a Polars expression that writes the message
for rows that fail. :func:`run_checks` evaluates every spec, validates the results with a
``pandera.polars.DataFrameSchema`` holding one named ``Check`` per spec (lazily: every check,
every row), and keeps for each failing row the *first* spec in list order: specs are listed
from the most basic (is the field there) to the most specific (is it in range), so the reason is
always the most useful one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.errors import SchemaError, SchemaErrors

REJECTS_SCHEMA: dict[str, pl.DataType] = {"row": pl.Int64, "reason_code": pl.Utf8, "message": pl.Utf8}
_ROW = "__row"


@dataclass(frozen=True)
class CheckSpec:
    code: str  # reason code (ledger_pipelines.ingest.reasons)
    field: str  # the field named in the message, e.g. "payload.plan_id"
    ok: pl.Expr  # true (or null) for rows that pass
    message: pl.Expr  # evaluated only for failing rows


def display(expr: pl.Expr, limit: int = 80) -> pl.Expr:
    """A value for a message: at most ``limit`` characters, control characters made visible."""
    text = expr.cast(pl.Utf8)
    shown = (
        pl.when(text.str.len_chars() > limit)
        .then(text.str.slice(0, limit) + pl.lit("…"))
        .otherwise(text)
    )
    return shown.str.replace_all(r"[\p{Cc}]", "\u2426").fill_null("null")


def run_checks(frame: pl.DataFrame, specs: Sequence[CheckSpec]) -> pl.DataFrame:
    """``(row, reason_code, message)`` for every row of ``frame`` failing a spec (first spec wins).

    All ``ok`` expressions are evaluated in one Polars pass (in parallel, common parts computed
    once); the Pandera schema then checks each result column under the spec's name and reports
    the failure cases. Messages are built only for the failing rows.
    """
    if frame.is_empty() or not specs:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    results = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias(_ROW),
        *[spec.ok.fill_null(True).alias(f"ok{number}") for number, spec in enumerate(specs)],
    )
    checks = [
        pa.Check(_check_fn(f"ok{number}"), name=f"{number:04d}|{spec.code}|{spec.field}", ignore_na=False)
        for number, spec in enumerate(specs)
    ]
    schema = pa.DataFrameSchema({_ROW: pa.Column(pl.Int64, checks=checks, nullable=False)}, coerce=False)
    try:
        schema.validate(results, lazy=True)
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    except SchemaErrors as errors:
        failures = errors.failure_cases
    except SchemaError as error:  # pragma: no cover - only without lazy=True
        failures = error.failure_cases
    failures = (
        pl.DataFrame(failures)
        .filter(pl.col("check").is_not_null() & pl.col("index").is_not_null())
        .select(pl.col("index").cast(pl.Int64).alias("row"),
                pl.col("check").str.split_exact("|", 1).struct.field("field_0").cast(pl.Int64).alias("spec"))
        .group_by("row").agg(pl.col("spec").min())
    )
    out = []
    for (number,), rows in failures.group_by("spec"):
        spec = specs[int(number)]
        picked = frame[rows["row"].sort()]
        out.append(picked.select(
            rows["row"].sort().alias("row"), pl.lit(spec.code).alias("reason_code"), spec.message.cast(pl.Utf8).alias("message"),
        ))
    return pl.concat(out).sort("row") if out else pl.DataFrame(schema=REJECTS_SCHEMA)


def _check_fn(column: str):
    def check(data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(column))

    return check
