"""How long `dbt build` takes on a large warehouse (~10M entries by default).

    .venv/bin/python -m tests.reports.bench_reports [--subscriptions 100000] [--months 24] [--out FILE]

Writes a synthetic subscription ledger straight into the analytics tables with DuckDB SQL
(invoices, payments that settle two days later / fail / stay pending, usage, credits), with
account and category snapshots derived from the balance definitions, then builds the reports and
prints the slowest models and tests. Not a pytest module (too slow for the suite).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from ledger_pipelines.paths import read_sql
from ledger_pipelines.reports.dbt_runner import build_reports
from ledger_pipelines.warehouse import duck
from tests.reports.ledger_fixture import CONTRACT_DDL

GENERATE = """
SET TimeZone = 'UTC';
CREATE TEMP TABLE months AS SELECT range AS m FROM range($months);
CREATE TEMP TABLE subs AS
SELECT range AS n, 'sub_' || range AS sub, 'cust_' || (range // 2) AS cust,
       (['USD', 'USD', 'EUR', 'JPY', 'KWD'])[1 + range % 5] AS currency,
       (['basic', 'pro', 'team'])[1 + (range // 7) % 3] AS plan,
       (range % 28) AS day_offset
FROM range($subscriptions);

-- one invoice per subscription and month; every 11th subscription churns after month 12
CREATE TEMP TABLE invoices AS
SELECT s.*, mo.m,
       TIMESTAMPTZ '2022-01-01 08:00:00+00' + to_months(mo.m) + to_days(s.day_offset) AS inv_at,
       (CASE s.plan WHEN 'basic' THEN 1900 WHEN 'pro' THEN 4900 ELSE 9900 END) * (1 + (mo.m // 6) % 2) AS amount
FROM subs s, months mo
WHERE NOT (s.n % 11 = 0 AND mo.m > 12);

CREATE TEMP TABLE txn AS
SELECT 'inv:' || sub || ':' || m AS key, 'invoice.issued' AS event_type, 'posted' AS status, inv_at AS effective_at,
       inv_at AS posted_at, NULL::TIMESTAMPTZ AS archived_at, 'invoice:' || sub || ':' || m AS reference, sub, cust, currency,
       amount, 'assets:receivables:' || sub AS debit_account, 'revenue:subscriptions:' || plan AS credit_account,
       json_object('subscription_id', sub, 'customer_id', cust, 'amount', amount, 'currency', currency,
                   'payload', json_object('invoice_id', sub || ':' || m, 'plan_id', plan,
                                          'period_start', strftime(inv_at, '%Y-%m-%d'),
                                          'period_end', strftime(inv_at + INTERVAL 1 MONTH, '%Y-%m-%d'))) AS source
FROM invoices
UNION ALL
SELECT 'pay:' || sub || ':' || m, 'payment.initiated',
       CASE WHEN (n + m) % 20 = 0 THEN 'archived' WHEN (n + m) % 50 = 1 AND m = $months - 1 THEN 'pending' ELSE 'posted' END,
       inv_at + INTERVAL 3 DAY,
       CASE WHEN (n + m) % 20 = 0 OR ((n + m) % 50 = 1 AND m = $months - 1) THEN NULL ELSE inv_at + INTERVAL 5 DAY END,
       CASE WHEN (n + m) % 20 = 0 THEN inv_at + INTERVAL 4 DAY END,
       'payment:' || sub || ':' || m, sub, cust, currency, amount, 'assets:cash:in_transit', 'assets:receivables:' || sub,
       json_object('subscription_id', sub, 'customer_id', cust, 'amount', amount, 'currency', currency,
                   'payload', json_object('payment_id', sub || ':' || m, 'invoice_id', sub || ':' || m))
FROM invoices
UNION ALL
SELECT 'usage:' || sub || ':' || m, 'usage.recorded', 'posted', inv_at + INTERVAL 10 DAY, inv_at + INTERVAL 10 DAY, NULL,
       'usage:' || sub || ':' || m, sub, cust, currency, 150 + n % 300, 'assets:receivables:' || sub, 'revenue:usage:api_calls',
       json_object('subscription_id', sub, 'customer_id', cust, 'amount', 150 + n % 300, 'currency', currency,
                   'payload', json_object('usage_id', sub || ':' || m, 'metric', 'api_calls'))
FROM invoices WHERE (n + m) % 10 = 0
UNION ALL
SELECT 'credit:' || sub || ':' || m, 'credit.granted', 'posted', inv_at + INTERVAL 1 DAY, inv_at + INTERVAL 1 DAY, NULL,
       'credit:' || sub || ':' || m, sub, cust, currency, 500, 'expenses:promotional_credits', 'liabilities:customer_credits:' || sub,
       json_object('subscription_id', sub, 'customer_id', cust, 'amount', 500, 'currency', currency,
                   'payload', json_object('credit_id', sub || ':' || m, 'reason', 'goodwill'))
FROM invoices WHERE (n + m) % 25 = 0;

INSERT INTO analytics.transactions (transaction_id, idempotency_key, status, effective_at, created_at, posted_at,
       archived_at, status_changed_at, reverses_transaction_id, reference, source_event_id, event_type, batch_id,
       description, metadata, source)
SELECT md5(key), key, status, effective_at, effective_at, posted_at, archived_at, coalesce(archived_at, posted_at),
       NULL, reference, key, event_type, NULL, event_type, '{}', source
FROM txn;

INSERT INTO analytics.entries
SELECT md5(key), 0, md5(debit_account), debit_account, 'debit', amount, currency, effective_at, CAST(effective_at AS DATE) FROM txn
UNION ALL
SELECT md5(key), 1, md5(credit_account), credit_account, 'credit', amount, currency, effective_at, CAST(effective_at AS DATE) FROM txn;

INSERT INTO analytics.accounts
SELECT md5(account), account,
       CASE WHEN split_part(account, ':', 1) IN ('assets', 'expenses') THEN 'debit' ELSE 'credit' END, NULL, '{}', now()
FROM (SELECT DISTINCT account FROM analytics.entries);

-- balance changes per account and day from the balance definitions
CREATE TEMP TABLE deltas AS
WITH e AS (
    SELECT e.account, e.currency, e.direction, e.amount, e.effective_date AS eff, t.status,
           greatest(e.effective_date, CAST(t.posted_at AS DATE)) AS posted_day,
           greatest(e.effective_date, CAST(t.archived_at AS DATE)) AS archived_day
    FROM analytics.entries e JOIN analytics.transactions t USING (transaction_id)
)
SELECT account, currency, day,
       sum(pd)::BIGINT AS pd, sum(pc)::BIGINT AS pc, sum(qd)::BIGINT AS qd, sum(qc)::BIGINT AS qc, sum(cnt)::BIGINT AS cnt
FROM (
    SELECT account, currency, posted_day AS day,
           CASE WHEN direction = 'debit' THEN amount ELSE 0 END AS pd, CASE WHEN direction = 'credit' THEN amount ELSE 0 END AS pc,
           0 AS qd, 0 AS qc, 0 AS cnt
    FROM e WHERE status = 'posted'
    UNION ALL
    SELECT account, currency, eff, 0, 0, CASE WHEN direction = 'debit' THEN amount ELSE 0 END,
           CASE WHEN direction = 'credit' THEN amount ELSE 0 END, 1
    FROM e WHERE status <> 'posted' OR posted_day > eff
    UNION ALL
    SELECT account, currency, eff, 0, 0, 0, 0, 1 FROM e WHERE status = 'posted' AND posted_day = eff
    UNION ALL
    SELECT account, currency, CASE WHEN status = 'posted' THEN posted_day ELSE archived_day END, 0, 0,
           -CASE WHEN direction = 'debit' THEN amount ELSE 0 END, -CASE WHEN direction = 'credit' THEN amount ELSE 0 END, 0
    FROM e WHERE (status = 'posted' AND posted_day > eff) OR status = 'archived'
)
GROUP BY ALL;

CREATE TEMP TABLE categories AS
SELECT DISTINCT a.account, array_to_string(list_slice(string_split(a.account, ':'), 1, k), ':') AS category
FROM (SELECT DISTINCT account FROM analytics.accounts) a, range(1, 33) r(k)
WHERE k <= len(string_split(a.account, ':'));

INSERT INTO analytics.categories
SELECT DISTINCT category, 'path', CASE WHEN contains(category, ':') THEN regexp_replace(category, ':[^:]*$', '') END,
       CASE WHEN split_part(category, ':', 1) IN ('assets', 'expenses') THEN 'debit' ELSE 'credit' END
FROM categories;
INSERT INTO analytics.account_categories SELECT category, account FROM categories;
"""

SNAPSHOTS = """
INSERT INTO analytics.{table}
SELECT {key}, currency, day, normal,
       CASE WHEN normal = 'debit' THEN cpd - cpc ELSE cpc - cpd END AS posted,
       CASE WHEN normal = 'debit' THEN cpd - cpc + cqd - cqc ELSE cpc - cpd + cqc - cqd END AS pending,
       CASE WHEN normal = 'debit' THEN cpd - cpc - cqc ELSE cpc - cpd - cqd END AS available,
       cpd, cpc, cqd, cqc, pd, pc, qd, qc, cnt
FROM (
    SELECT {key}, currency, day,
           CASE WHEN split_part({key}, ':', 1) IN ('assets', 'expenses') THEN 'debit' ELSE 'credit' END AS normal,
           pd, pc, qd, qc, cnt,
           sum(pd) OVER w AS cpd, sum(pc) OVER w AS cpc, sum(qd) OVER w AS cqd, sum(qc) OVER w AS cqc
    FROM ({source})
    WINDOW w AS (PARTITION BY {key}, currency ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
"""


def generate(path: Path, subscriptions: int, months: int) -> None:
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(CONTRACT_DDL)
        con.execute(GENERATE.replace("$months", str(months)).replace("$subscriptions", str(subscriptions)))
        con.execute(read_sql("warehouse/macros.sql"))  # what the mirror computes once per transaction, as it does
        duck.run_file(con, "warehouse/mirror/derive_transactions.sql", {"tz": "UTC", "all": False})
        con.execute(SNAPSHOTS.format(table="account_balance_snapshots", key="account", source="SELECT * FROM deltas"))
        con.execute(SNAPSHOTS.format(
            table="category_balance_snapshots", key="category",
            source="SELECT c.category, d.currency, d.day, sum(pd)::BIGINT AS pd, sum(pc)::BIGINT AS pc, sum(qd)::BIGINT AS qd, "
                   "sum(qc)::BIGINT AS qc, sum(cnt)::BIGINT AS cnt FROM deltas d JOIN categories c USING (account) GROUP BY ALL"))
        con.execute("INSERT INTO warehouse_meta.builds SELECT 'account_snapshots', '1:1:', max(as_of_date), 'UTC', "
                    "min(as_of_date), '', min(as_of_date), 'bench', now() FROM analytics.account_balance_snapshots")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="subledger-bench-")) / "bench.duckdb")
    parser.add_argument("--reuse", action="store_true", help="keep an existing --out file instead of generating")
    args = parser.parse_args()
    if not (args.reuse and args.out.exists()):
        started = time.monotonic()
        generate(args.out, args.subscriptions, args.months)
        print(f"generated {args.out} in {time.monotonic() - started:.1f}s")
    with duckdb.connect(str(args.out), read_only=True) as con:
        counts = {t: con.execute(f"SELECT count(*) FROM analytics.{t}").fetchone()[0]
                  for t in ("transactions", "entries", "account_balance_snapshots", "category_balance_snapshots")}
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    result = build_reports(args.out, target_path=args.out.parent / "target", log_path=args.out.parent / "logs",
                           extra=["--quiet"])
    print(result.summary())
    slowest = sorted(result.nodes, key=lambda n: n.seconds, reverse=True)[:15]
    print(f"{'node':70} {'type':6} {'seconds':>8}")
    for node in slowest:
        print(f"{node.name[:70]:70} {node.resource_type:6} {node.seconds:8.2f}")
    models = sum(n.seconds for n in result.nodes if n.resource_type == "model")
    tests = sum(n.seconds for n in result.nodes if n.resource_type == "test")
    print(f"sum of model times {models:.1f}s, of test times {tests:.1f}s (4 threads); wall {result.seconds:.1f}s")


if __name__ == "__main__":
    main()
