"""The reports domain in Dagster, materialised in process on a real ledger: events generated and
ingested into Postgres, mirrored and snapshotted into DuckDB, reports built by the real dbt project
through dagster-dbt, exported for finance. Numbers are compared with a computation in Python
straight from the Postgres ledger (not from DuckDB, not by the dbt SQL)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from ledger_pipelines.config import load_settings
from ledger_pipelines.defs.reports.assets import FILES_READ_BACK, export_key, report_exports, report_models
from ledger_pipelines.defs.reports.project import report_asset_key
from ledger_pipelines.defs.reports.schedules import close_pack_run_config, previous_month
from ledger_pipelines.generate import generate
from ledger_pipelines.ingest.ingestor import ingest_paths
from ledger_pipelines.reports.catalog import REPORTS
from ledger_pipelines.reports.publishing import CLOSE_PACK_FOLDER

pytestmark = pytest.mark.slow

FIRST = date(2024, 1, 1)
TRIAL_BALANCE = report_asset_key("trial_balance")

LEDGER_ENTRIES = """
SELECT a.code, a.normal_balance, e.currency, e.direction, e.amount, t.effective_at, t.posted_at
FROM ledger.entries e
JOIN ledger.transactions t USING (transaction_id)
JOIN ledger.accounts a USING (account_id)
WHERE t.status = 'posted'
"""


@pytest.fixture(scope="module")
def merged_defs():
    from ledger_pipelines.defs.definitions import defs

    return defs


@pytest.fixture
def pipeline(ledger_db, subledger_home, monkeypatch, merged_defs):
    """A home with a generated, ingested ledger; returns a function that materialises a selection."""
    monkeypatch.setenv("SUBLEDGER_DATABASE_URL", ledger_db.dsn)
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", "UTC")
    monkeypatch.setenv("SUBLEDGER_START_DATE", FIRST.isoformat())
    settings = load_settings()
    files = generate(subledger_home / "events", subscriptions=25, months=4, seed=11, start=FIRST).files
    reports = ingest_paths(settings, files)
    assert sum(r.posted for r in reports) > 100
    assets = [*merged_defs.assets, *merged_defs.asset_checks]

    def run(selection, instance, run_config=None):
        """Materialise ``selection`` (default: the warehouse and the reports; the ledger was ingested above)."""
        selection = selection if selection is not None else dg.AssetSelection.assets(dg.AssetKey(["warehouse", "ledger_mirror"])).downstream()
        return dg.materialize(assets, resources=merged_defs.resources, instance=instance, selection=selection,
                              run_config=run_config, raise_on_error=False)

    return settings, run


def _expected_trial_balance(dsn: str, dates: list[date]) -> dict[tuple, tuple[int, int, int]]:
    """Posted debits/credits/balance per (as_of_date, account, currency), from Postgres in Python: an
    entry counts from the later of its effective day and its posting day (UTC)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(LEDGER_ENTRIES).fetchall()
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    normal: dict[str, str] = {}
    for code, normal_balance, currency, direction, amount, effective_at, posted_at in rows:
        normal[code] = normal_balance
        counts_from = max(effective_at, posted_at).astimezone(UTC).date()
        for as_of in dates:
            if counts_from <= as_of:
                sums[(as_of, code, currency)][0 if direction == "debit" else 1] += amount
    out = {}
    for (as_of, code, currency), (debits, credits) in sums.items():
        balance = debits - credits if normal[code] == "debit" else credits - debits
        out[(as_of, code, currency)] = (debits, credits, balance)
    return out


def _expected_revenue_by_plan(dsn: str) -> dict[tuple, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(LEDGER_ENTRIES).fetchall()
    out: dict[tuple, int] = defaultdict(int)
    for code, _, currency, direction, amount, effective_at, posted_at in rows:
        if code.startswith("revenue:subscriptions:"):
            period = max(effective_at, posted_at).astimezone(UTC).strftime("%Y-%m")
            out[(period, code.split(":", 2)[2], currency)] += amount if direction == "credit" else -amount
    return {k: v for k, v in out.items() if v}


def _materializations(result) -> dict[dg.AssetKey, dg.AssetMaterialization]:
    return {e.asset_key: e.materialization for e in result.get_asset_materialization_events()}


def test_lineage_runs_from_posted_batches_to_the_trial_balance(merged_defs) -> None:
    graph = merged_defs.resolve_asset_graph()
    start = dg.AssetKey(["ledger", "posted_batches"])
    seen, frontier, parents = {start}, [start], {}
    while frontier:
        key = frontier.pop()
        for child in graph.get(key).child_keys:
            if child not in seen:
                seen.add(child)
                parents[child] = key
                frontier.append(child)
    assert TRIAL_BALANCE in seen
    path = [TRIAL_BALANCE]
    while path[-1] != start:
        path.append(parents[path[-1]])
    names = [k.to_user_string() for k in reversed(path)]
    assert names[0] == "ledger/posted_batches" and names[-1] == "reports/trial_balance"
    assert "warehouse/ledger_mirror" in names
    # the snapshots feed the trial balance through staging
    snapshots_children = graph.get(dg.AssetKey(["warehouse", "account_balance_snapshots"])).child_keys
    assert report_asset_key("stg_account_balance_snapshots") in snapshots_children
    # dbt tests are blocking asset checks of the report they test
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == TRIAL_BALANCE}
    assert "trial_balance_debits_equal_credits" in checks
    spec = graph.get_check_spec(dg.AssetCheckKey(TRIAL_BALANCE, "trial_balance_debits_equal_credits"))
    assert spec.blocking and spec.description
    for name in REPORTS:
        node = graph.get(report_asset_key(name))
        assert node.group_name == "reports" and node.freshness_policy is not None
        assert {"dbt", "duckdb"} <= set(node.kinds)
        assert report_asset_key(name) in graph.get(export_key(name)).parent_keys
    assert report_models.op.pools == report_exports.op.pools == {"duckdb_warehouse"}


def test_reports_built_checked_exported_previewed_and_guarded(ledger_db, pipeline) -> None:
    settings, run = pipeline
    with dg.DagsterInstance.ephemeral() as instance:
        result = run(None, instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]

        # -- the numbers, against Python over the Postgres ledger
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            tb = con.execute("SELECT as_of_date, account, currency, debits, credits, balance FROM reports.trial_balance").fetchall()
            rbp = con.execute("SELECT period, plan_id, currency, revenue FROM reports.revenue_by_plan WHERE revenue <> 0").fetchall()
        dates = sorted({r[0] for r in tb})
        assert {date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)} <= set(dates)
        assert {(r[0], r[1], r[2]): tuple(r[3:]) for r in tb} == _expected_trial_balance(ledger_db.reader_dsn, dates)
        assert {(r[0], r[1], r[2]): r[3] for r in rbp} == _expected_revenue_by_plan(ledger_db.reader_dsn)

        # -- dbt tests recorded as asset check results, all passed, ERROR severity
        evaluations = result.get_asset_check_evaluations()
        dbt_checks = [e for e in evaluations if e.asset_key.path[0] == "reports" and e.asset_key.path[1] != "exports"]
        assert len(dbt_checks) > 100 and all(e.passed for e in dbt_checks)
        assert any(e.check_name == "trial_balance_debits_equal_credits" for e in dbt_checks)
        read_back = [e for e in evaluations if e.check_name == FILES_READ_BACK]
        assert len(read_back) == len(REPORTS) and all(e.passed for e in read_back)

        # -- previews and charts in the materialisation metadata
        done = _materializations(result)
        for name, spec in REPORTS.items():
            metadata = done[report_asset_key(name)].metadata
            assert metadata["preview note"].value.startswith(f"{spec.title}, period "), name
            table = metadata["preview"].value  # a table the UI shows inline, money in major units
            assert table.records and [c.name for c in table.schema.columns] == list(table.records[0].data), name
            if spec.chart:
                assert metadata["chart"].value.startswith("![") and "data:image/png;base64,iVBORw0KGgo" in metadata["chart"].value
            else:
                assert "chart" not in metadata
        assert done[export_key("trial_balance")].metadata["periods"].value == len(dates)
        # -- every model says its column types, every table its row count
        tb_meta = done[report_asset_key("trial_balance")].metadata
        assert tb_meta["dagster/row_count"].value == len(tb)
        assert {c.name: c.type for c in tb_meta["dagster/column_schema"].schema.columns}["debits"] == "BIGINT"
        staging = done[dg.AssetKey(["reports", "stg_accounts"])].metadata  # a view: columns, not counted (that would run it)
        assert "account" in [c.name for c in staging["dagster/column_schema"].schema.columns]
        assert "dagster/row_count" not in staging
        intermediate = done[dg.AssetKey(["reports", "int_report_bounds"])].metadata
        assert intermediate["dagster/row_count"].value == 1
        # -- streamed: a staging model is recorded while dbt is still building (before its last node
        # finished), the statements only after the file holding them is published
        finished = [datetime.fromisoformat(t["completed_at"]).replace(tzinfo=UTC).timestamp()
                    for node in json.loads((settings.home / "dbt" / "target" / "run_results.json").read_text())["results"]
                    for t in node["timing"] if t["name"] == "execute"]
        recorded = {entry.dagster_event.event_specific_data.materialization.asset_key: entry.timestamp
                    for entry in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)}
        assert recorded[dg.AssetKey(["reports", "stg_accounts"])] < max(finished)
        assert min(recorded[report_asset_key(name)] for name in REPORTS) > max(finished)

    # -- the exports: one file set per period, readable, major units in CSV/XLSX, minor in Parquet
    folder = settings.reports_dir / "trial_balance"
    assert sorted(p.stem for p in folder.glob("*.csv")) == sorted({d.strftime("%Y-%m") for d in dates})
    period = "2024-02"
    table = pq.read_table(folder / f"{period}.parquet")
    assert table.schema.field("debits").type == "int64"
    parquet_rows = {(r["account"], r["currency"]): r["debits"] for r in table.to_pylist()}
    expected = {(k[1], k[2]): v[0] for k, v in _expected_trial_balance(ledger_db.reader_dsn, [date(2024, 2, 29)]).items()}
    assert parquet_rows == expected
    with open(folder / f"{period}.csv", newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert len(csv_rows) == table.num_rows
    usd = next(r for r in csv_rows if r["currency"] == "USD")
    assert usd["debits"] == f"{parquet_rows[(usd['account'], 'USD')] // 100}.{parquet_rows[(usd['account'], 'USD')] % 100:02d}"
    workbook = load_workbook(folder / f"{period}.xlsx", read_only=True)
    sheet_rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert len(sheet_rows) == table.num_rows + 1 and sheet_rows[0][:2] == ("Period", "As of")
    workbook.close()

    # -- the monthly close pack: one month's files and a manifest of them
    assert previous_month(datetime(2024, 4, 5, 6, tzinfo=UTC)) == "2024-03"
    assert previous_month(datetime(2024, 1, 5, 6, tzinfo=UTC)) == "2023-12"
    shutil.rmtree(settings.reports_dir)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run(dg.AssetSelection.assets(report_exports), instance, run_config=close_pack_run_config("2024-03"))
        assert result.success
    manifest = json.loads((settings.reports_dir / CLOSE_PACK_FOLDER / "2024-03.json").read_text())
    assert manifest["period"] == "2024-03"
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        with_rows = {name for name, spec in REPORTS.items()
                     if con.execute(f"SELECT count(*) FROM {spec.relation} WHERE {spec.period_column} = '2024-03'").fetchone()[0]}
    assert {"trial_balance", "balance_sheet", "income_statement", "mrr_movements"} <= with_rows
    assert sorted((f["report"], f["format"]) for f in manifest["files"]) == sorted(
        (name, fmt) for name in with_rows for fmt in ("csv", "parquet", "xlsx"))
    for entry in manifest["files"]:
        path = settings.reports_dir / entry["path"]
        assert path.parent.name == entry["report"] and path.stem == "2024-03"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert {p.stem for p in (settings.reports_dir / "trial_balance").iterdir()} == {"2024-03"}  # that month only

    # -- a failing dbt test is a failed ERROR check, and nothing is published (same ledger, to save a build)
    published_before = settings.duckdb_path.read_bytes()
    with duckdb.connect(str(settings.warehouse_work_path)) as con:  # one minor unit of debits without a credit
        con.execute("UPDATE analytics.account_balance_snapshots SET posted_debits = posted_debits + 1, posted = posted + 1 "
                    "WHERE account = (SELECT min(account) FROM analytics.account_balance_snapshots WHERE account LIKE 'assets:%')")
    with dg.DagsterInstance.ephemeral() as instance:
        result = run(dg.AssetSelection.assets(report_models), instance)
        assert not result.success
        failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
        assert "trial_balance_debits_equal_credits" in failed
        assert failed["trial_balance_debits_equal_credits"].severity == dg.AssetCheckSeverity.ERROR
    assert settings.duckdb_path.read_bytes() == published_before  # finance keeps the last good reports


def test_the_manifest_is_prepared_offline_when_missing_or_stale(tmp_path: Path) -> None:
    """A fresh checkout has no manifest: loading the definitions parses the project (no network)
    once; afterwards it is reused until a file of the project changes."""
    from dagster_dbt import DbtProject

    from ledger_pipelines.defs.reports.project import ensure_manifest, manifest_is_stale
    from ledger_pipelines.paths import dbt_project_dir

    copy = tmp_path / "dbt_project"
    shutil.copytree(dbt_project_dir(), copy, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=copy, target_path="target")
    assert manifest_is_stale(project)
    manifest = ensure_manifest(project)
    nodes = json.loads(manifest.read_text())["nodes"]
    assert "model.subledger.trial_balance" in nodes
    parsed_at = manifest.stat().st_mtime_ns
    assert not manifest_is_stale(project)
    assert ensure_manifest(project).stat().st_mtime_ns == parsed_at  # current: not parsed again
    model = copy / "models" / "marts" / "trial_balance.sql"
    model.write_text(model.read_text() + "\n")
    assert manifest_is_stale(project)
    assert ensure_manifest(project).stat().st_mtime_ns > parsed_at
