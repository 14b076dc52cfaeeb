"""``subledger ingest``, ``subledger quarantine``, ``subledger replay``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from ledger_pipelines.cli.common import dsns_or_exit, emit_json, fail, settings_or_exit, user_errors
from ledger_pipelines.ingest.quarantine import export_open, list_quarantine
from ledger_pipelines.postgres.database import connect


def _summary(reports) -> dict[str, int]:
    """What this run did. A file ingested before is a no-op: its events count as duplicates here
    (its own outcomes stay with its first batch), so totals added up over runs never count an
    event twice."""
    total = Counter()
    for report in reports:
        total.update({"events": report.events, "duplicate": report.events} if report.skipped else report.as_json())
    return {k: int(total[k]) for k in ("events", "posted", "pending", "duplicate", "quarantined")}


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help='Print {"events", "posted", "pending", "duplicate", "quarantined"}.')
def ingest(paths: tuple[Path, ...], as_json: bool) -> None:
    """Ingest source-event files (.jsonl, .jsonl.gz, .csv, .parquet; folders are searched).

    The same code path as the Dagster ingestion assets. A file whose content was ingested
    before is skipped: its events count as duplicates in this run's totals. Folders are searched
    without following links; a link, FIFO or device found there or named here is quarantined with
    the reason, never read (a link named here is followed: your choice). Exit 1 if any event was
    quarantined in this run (see `subledger quarantine`).
    """
    from ledger_pipelines.ingest.ingestor import ingest_paths

    settings = settings_or_exit()
    dsns_or_exit(settings)
    with user_errors():
        reports = ingest_paths(settings, list(paths))
    if not reports:
        fail("no event files found in the given paths (expected *.jsonl, *.jsonl.gz, *.csv, *.parquet).", 2)
    summary = _summary(reports)
    if as_json:
        emit_json(summary)
    else:
        for report in reports:
            state = "already ingested, skipped: the counts are those of its first ingestion" if report.skipped else f"{report.events_per_second:,.0f} events/s"
            click.echo(
                f"{report.source_name}: {report.events} events, {report.posted} posted, {report.pending} pending, "
                f"{report.duplicate} duplicate, {report.quarantined} quarantined ({state})"
            )
        click.echo(f"total: {summary}")
    if summary["quarantined"]:
        raise SystemExit(1)


def _reason_code(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A reason code the platform gives (ingest/reasons.py); a typo is a usage error, not 0 rows."""
    from ledger_pipelines.ingest.reasons import REASONS

    if value is not None and value not in REASONS:
        raise click.BadParameter(f"{value!r} is not a reason code; the codes are: {', '.join(sorted(REASONS))} "
                                 "(docs/source-events.md).")
    return value


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as one JSON document.")
@click.option("--all", "include_resolved", is_flag=True, help="Include entries already resolved by a replay.")
@click.option("--export", "export_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the raw open events as JSON lines to this file, to fix and `subledger replay`.")
@click.option("--reason", callback=_reason_code, metavar="CODE",
              help="Only events quarantined with this reason code (listing and --export).")
def quarantine(as_json: bool, include_resolved: bool, export_to: Path | None, reason: str | None) -> None:
    """List quarantined events with their reason codes (open ones unless --all)."""
    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    with user_errors(), connect(dsns.reader_dsn) as conn:
        if export_to is not None:
            written = export_open(conn, export_to, reason=reason)
            which = f" with reason {reason}" if reason else ""
            click.echo(f"wrote {written} quarantined events{which} to {export_to}; fix them and run "
                       f"`subledger replay {export_to}`.")
            return
        entries = [e for e in list_quarantine(conn, include_resolved=include_resolved)
                   if reason is None or e.reason_code == reason]
    if as_json:
        emit_json([entry.as_dict() for entry in entries])
        return
    if not entries:
        click.echo(f"No quarantined events with reason {reason}." if reason else "The quarantine is empty.")
        return
    by_reason = Counter(entry.reason_code for entry in entries)
    click.echo("reason_code counts: " + ", ".join(f"{code}={n}" for code, n in by_reason.most_common()))
    for entry in entries:
        where = f"{entry.source_name}:{entry.line_no}" if entry.line_no else entry.source_name
        click.echo(f"[{entry.reason_code}] {entry.event_id or '-'} ({where}): {entry.message}")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the batch outcome counts as JSON.")
def replay(file: Path, as_json: bool) -> None:
    """Ingest corrected versions of quarantined events; each resolves its quarantine entry (audited)."""
    from ledger_pipelines.ingest.ingestor import replay_file

    settings = settings_or_exit()
    dsns_or_exit(settings)
    with user_errors():
        report = replay_file(settings, file)
    if as_json:
        emit_json(report.as_json())
    else:
        state = " (this exact file was replayed before; nothing to do)" if report.skipped else ""
        click.echo(f"{file}: {report.as_json()}{state}")
    if report.quarantined and not report.skipped:
        raise SystemExit(1)


COMMANDS = [ingest, quarantine, replay]
