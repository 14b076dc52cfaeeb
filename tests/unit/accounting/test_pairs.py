"""Each rule the warehouse needs in SQL is the same rule as in Python: the DuckDB macros of
``sql/warehouse/macros.sql`` against :mod:`ledger_pipelines.accounting`, on random data.

Balances: random four sums (up to the 64-bit range, where a 32-bit or float slip would show) and
normal balances. Calendar: random instants and days in zones whose clocks change at midnight
(America/Santiago skips midnight in September and repeats 23:xx in April; America/Havana repeats
midnight in November; Pacific/Apia skipped 2011-12-30 entirely; Asia/Kathmandu is +05:45 and was
+05:30 before 1986; America/Sao_Paulo skipped midnight until 2019), plus the known transition days
as explicit examples.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger_pipelines.accounting.balances import signed_amount, signed_balances, signed_entry
from ledger_pipelines.accounting.calendar import end_of_day, local_day, start_of_day
from ledger_pipelines.paths import read_sql

ZONES = ("America/Santiago", "America/Havana", "Pacific/Apia", "Asia/Kathmandu", "America/Sao_Paulo", "Europe/Berlin", "UTC")
INT64_MAX = 2**63 - 1
# Sums anywhere in the 64-bit range, given as HUGEINT as the snapshots give them (the macros compute
# in the type they are given).
SUM = st.integers(min_value=0, max_value=INT64_MAX)
# DuckDB (ICU) and Python each carry a copy of the tz database. ledger_pipelines/__init__.py makes
# Python read the pinned tzdata package, not the host's copy (Debian's 2025b does not know Cuba's
# 2026 change; tzdata 2026f and ICU do), so the pair holds in the years after 2025 too.
DAYS = st.dates(min_value=date(1971, 1, 1), max_value=date(2030, 12, 31))
INSTANTS = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    conn.execute(read_sql("warehouse/macros.sql"))
    yield conn
    conn.close()


@settings(max_examples=300, deadline=None)
@given(normal=st.sampled_from(("debit", "credit")), pd=SUM, pc=SUM, qd=SUM, qc=SUM)
@example(normal="debit", pd=0, pc=INT64_MAX, qd=INT64_MAX, qc=0)
@example(normal="credit", pd=INT64_MAX, pc=0, qd=0, qc=INT64_MAX)
def test_signed_balances_equal_the_macros(duck, normal, pd, pc, qd, qc):
    row = duck.execute(
        "SELECT signed_posted(n, pd, pc, qd, qc), signed_pending(n, pd, pc, qd, qc), signed_available(n, pd, pc, qd, qc) "
        "FROM (SELECT $n::VARCHAR AS n, $pd::HUGEINT AS pd, $pc::HUGEINT AS pc, $qd::HUGEINT AS qd, $qc::HUGEINT AS qc)",
        {"n": normal, "pd": pd, "pc": pc, "qd": qd, "qc": qc},
    ).fetchone()
    assert tuple(int(v) for v in row) == signed_balances(normal, pd, pc, qd, qc)


@settings(max_examples=300, deadline=None)
@given(normal=st.sampled_from(("debit", "credit")), direction=st.sampled_from(("debit", "credit")), debits=SUM, credits=SUM)
@example(normal="credit", direction="debit", debits=INT64_MAX, credits=0)
def test_signed_amounts_equal_the_macros(duck, normal, direction, debits, credits):
    row = duck.execute(
        "SELECT signed_amount(n, d, c), signed_entry(n, dir, d) "
        "FROM (SELECT $n::VARCHAR AS n, $dir::VARCHAR AS dir, $d::HUGEINT AS d, $c::HUGEINT AS c)",
        {"n": normal, "dir": direction, "d": debits, "c": credits},
    ).fetchone()
    assert (int(row[0]), int(row[1])) == (signed_amount(normal, debits, credits), signed_entry(normal, direction, debits))


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), instant=INSTANTS)
@example(zone="America/Santiago", instant=datetime(2024, 4, 7, 3, 30, tzinfo=UTC))  # the second 23:30 of 04-06
@example(zone="America/Havana", instant=datetime(2023, 11, 5, 4, 30, tzinfo=UTC))  # the second 00:30 of 11-05
@example(zone="America/Havana", instant=datetime(2026, 11, 15, 4, 30, tzinfo=UTC))  # Cuba's 2026 rules (tzdata 2026f)
@example(zone="Pacific/Apia", instant=datetime(2011, 12, 30, 9, 59, 59, 999999, tzinfo=UTC))  # 23:59:59 of 12-29
@example(zone="Pacific/Apia", instant=datetime(2011, 12, 30, 10, tzinfo=UTC))  # 00:00 of 12-31
def test_local_day_equals_the_macro(duck, zone, instant):
    got = duck.execute("SELECT local_day($ts::TIMESTAMPTZ, $tz)", {"ts": instant, "tz": zone}).fetchone()[0]
    assert got == local_day(instant, ZoneInfo(zone))


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), day=DAYS)
@example(zone="America/Santiago", day=date(2024, 9, 8))  # midnight skipped: starts at 01:00 -03
@example(zone="America/Santiago", day=date(2024, 4, 6))  # ends after the second 23:59:59.999999
@example(zone="America/Havana", day=date(2023, 11, 5))  # midnight twice: starts at the first
@example(zone="America/Havana", day=date(2023, 11, 4))
@example(zone="Pacific/Apia", day=date(2011, 12, 30))  # skipped: no instant, starts where 12-31 starts
@example(zone="Pacific/Apia", day=date(2011, 12, 29))
@example(zone="Asia/Kathmandu", day=date(1986, 1, 1))  # +05:30 -> +05:45 at midnight
@example(zone="America/Sao_Paulo", day=date(2018, 11, 4))  # midnight skipped
def test_day_bounds_equal_the_macros(duck, zone, day):
    tz = ZoneInfo(zone)
    start, end = duck.execute("SELECT day_start($d::DATE, $tz), day_end($d::DATE, $tz)", {"d": day, "tz": zone}).fetchone()
    # compared in UTC: an aware datetime in a repeated hour never equals one of another zone (PEP 495)
    assert start == start_of_day(day, tz).astimezone(UTC)
    assert end == end_of_day(day, tz).astimezone(UTC)
    assert end + timedelta(microseconds=1) == start_of_day(day + timedelta(days=1), tz).astimezone(UTC)


@settings(max_examples=100, deadline=None)
@given(day=DAYS, start=DAYS)
def test_days_before_the_start_date_fold_into_it(duck, day, start):
    assert duck.execute("SELECT fold_to_start($d::DATE, $s::DATE)", {"d": day, "s": start}).fetchone()[0] == max(day, start)
