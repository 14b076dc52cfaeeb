"""``subledger verify``: every integrity check, from the command line (the same checks as Dagster's)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import psycopg

from ledger_pipelines.cli.common import dsns_or_exit, emit_json, settings_or_exit, user_errors
from ledger_pipelines.ledger import chain
from ledger_pipelines.warehouse import checks
from ledger_pipelines.warehouse.publish import open_published


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document: every check with its offending rows.")
@click.option("--limit", default=20, show_default=True, help="Offending rows shown per failed check.")
@click.option("--full", is_flag=True, help="Recompute the whole hash chain, not only the links after the last verified one.")
@click.option("--export-head", is_flag=True,
              help="Verify the hash chain only, then print its head as one JSON line to publish outside the ledger.")
def verify(as_json: bool, limit: int, full: bool, export_head: bool) -> None:
    """Run every integrity check; exit 1 if any fails.

    Ledger (Postgres): the rows are the ones sealed in the hash chain (from the link verified
    last, or every link with --full; the first record that differs is named); every transaction
    balances per currency; cached balances equal the recomputation from entries. Warehouse (the published DuckDB file finance reads, opened
    read-only, so a running materialisation is never disturbed): it is built from the ledger as
    it stands and through today (else it is stale, and verify says what to run); the mirror
    balances and is complete at its watermark; every account and category snapshot row equals a
    recomputation; category totals equal their members.
    """
    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    if export_head:
        _export_head(dsns.reader_dsn, settings.chain_checkpoint_path, full)
        return
    warehouse_note = None
    with user_errors():
        conn = None
        if settings.duckdb_path.exists():
            conn = open_published(settings.duckdb_path)
        else:
            warehouse_note = f"{settings.duckdb_path} does not exist yet (`subledger run` builds it)."
        try:
            results = checks.run_all(conn, dsns.reader_dsn, tz=settings.timezone, start=settings.start_date,
                                     today=settings.today(), chain_checkpoint=settings.chain_checkpoint_path,
                                     full_chain=full)
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
            if "problem" in r.offending.columns:  # the table cuts long text; the problem names the record
                for problem in r.offending.get_column("problem").head(limit).drop_nulls():
                    click.echo(f"  {problem}")
            click.echo(f"what to do: {r.runbook}")
    if failed:
        click.echo(f"error: {len(failed)} check(s) failed: {', '.join(r.name for r in failed)}. See docs/warehouse.md, "
                   "'Runbook', for each one.", err=True)
        raise SystemExit(1)



def _export_head(dsn: str, checkpoint: Path, full: bool) -> None:
    """Verify the chain; print its head (one JSON line) or fail naming the first broken record."""
    with user_errors():
        result = checks.chain_intact(dsn, checkpoint, full=full)
    if not result.passed:
        row = result.offending.row(0, named=True)
        click.echo(f"error: the hash chain is broken at link {row['link_no']}: {row['problem']}. {result.runbook}", err=True)
        raise SystemExit(1)
    with user_errors(), psycopg.connect(dsn) as conn:
        current = chain.head(conn)
    click.echo(chain.format_head(current, datetime.now(UTC)))


COMMANDS = [verify]
