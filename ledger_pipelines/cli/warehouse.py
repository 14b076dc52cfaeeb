"""``subledger verify``: every integrity check, from the command line (the same checks as Dagster's)."""

from __future__ import annotations

import click

from ledger_pipelines.cli.common import dsns_or_exit, emit_json, settings_or_exit, user_errors
from ledger_pipelines.warehouse import checks
from ledger_pipelines.warehouse.publish import open_published


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document: every check with its offending rows.")
@click.option("--limit", default=20, show_default=True, help="Offending rows shown per failed check.")
def verify(as_json: bool, limit: int) -> None:
    """Run every integrity check; exit 1 if any fails.

    Ledger (Postgres): every transaction balances per currency; cached balances equal the
    recomputation from entries. Warehouse (the published DuckDB file finance reads, opened
    read-only, so a running materialisation is never disturbed): it is built from the ledger as
    it stands and through today (else it is stale, and verify says what to run); the mirror
    balances and is complete at its watermark; every account and category snapshot row equals a
    recomputation; category totals equal their members.
    """
    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    warehouse_note = None
    with user_errors():
        conn = None
        if settings.duckdb_path.exists():
            conn = open_published(settings.duckdb_path)
        else:
            warehouse_note = f"{settings.duckdb_path} does not exist yet (`subledger run` builds it)."
        try:
            results = checks.run_all(conn, dsns.reader_dsn, tz=settings.timezone, start=settings.start_date,
                                     today=settings.today())
        finally:
            if conn is not None:
                conn.close()
    failed = [r for r in results if not r.passed]
    if as_json:
        emit_json({
            "passed": not failed,
            "checks": [r.as_json(limit) for r in results],
            **({"note": warehouse_note} if warehouse_note else {}),
        })
    else:
        for r in results:
            status = "ok  " if r.passed else "FAIL"
            click.echo(f"{status} {r.name}: {r.description} ({r.checked_rows} rows checked, {r.offending.height} offending)")
        if warehouse_note:
            click.echo(f"note: {warehouse_note}")
        for r in failed:
            click.echo(f"\n{r.name}: offending rows (first {limit}):")
            click.echo(str(r.offending.head(limit)))
            click.echo(f"what to do: {r.runbook}")
    if failed:
        click.echo(f"error: {len(failed)} check(s) failed: {', '.join(r.name for r in failed)}. See docs/warehouse.md, "
                   "'Runbook', for each one.", err=True)
        raise SystemExit(1)


COMMANDS = [verify]
