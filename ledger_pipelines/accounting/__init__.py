"""The accounting rules, each written once in Python: pure (Polars and the standard library only).

``accounts`` (account codes, types, normal balances), ``balances`` (posted / pending / available),
``calendar`` (reporting days, periods, time text), ``money`` (currencies, minor units) and
``errors`` (the refusals). No database, DuckDB or Dagster import: every other package may use
them, they use none (docs/architecture.md, "Where each rule lives").
"""
