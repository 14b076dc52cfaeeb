"""Exports for finance as one step: export the reports, read every file written back, and (for a
monthly close pack) write the month's workbook and HTML page and a manifest of its files with
their SHA-256.

Only periods whose content changed are written again (``exports.ExportManifest``): each
:class:`ExportOutcome` says how many periods were rewritten and how many were left unchanged.
Called by the Dagster export assets (``ledger_pipelines/defs/reports``); no Dagster here. Reads
the *published* warehouse read-only, like finance does, so an export never holds the writer lock.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from ledger_pipelines.reports.catalog import report
from ledger_pipelines.reports.close_pack import ClosePack, build_close_pack
from ledger_pipelines.reports.close_pack_render import html_page, workbook_bytes
from ledger_pipelines.reports.exports import ExportedPeriod, export_report, file_sha256, report_periods, write_atomic
from ledger_pipelines.reports.xlsx_sheet import count_rows

CLOSE_PACK_FOLDER = "close_pack"


@dataclass
class ExportOutcome:
    """One report's export: the period files written and what reading them back found wrong."""

    report: str
    folder: Path
    exported: list[ExportedPeriod] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.exported)

    @property
    def rewritten(self) -> int:
        """Periods whose files were written in this run (their content changed, or they were new)."""
        return sum(p.rewritten for p in self.exported)

    @property
    def unchanged(self) -> int:
        """Periods whose files were kept: their content had not changed."""
        return len(self.exported) - self.rewritten


def read_back(exported: ExportedPeriod) -> tuple[int, list[str]]:
    """Open every file of one period written in this run: Parquet must equal the rows it was written
    from exactly (types and order included); CSV and XLSX must have a header and one line per row.
    Returns (files, problems)."""
    expected = exported.table
    assert expected is not None, "read_back takes a period written in this run"
    problems: list[str] = []
    where = f"{exported.report} {exported.period}"
    for fmt, path in exported.files.items():
        if fmt == "parquet":
            if not pq.read_table(path).equals(expected):
                problems.append(f"{where}: {path.name} differs from reports.{exported.report}; re-run the export.")
        elif fmt == "csv":
            rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
            if len(rows) != expected.num_rows + 1 or len(rows[0]) != expected.num_columns:
                problems.append(f"{where}: {path.name} has {len(rows) - 1} rows of {len(rows[0]) if rows else 0} "
                                f"columns, the report {expected.num_rows} of {expected.num_columns}.")
        elif fmt == "xlsx":
            count = count_rows(path)
            if count != expected.num_rows + 1:
                problems.append(f"{where}: {path.name} has {count - 1} rows, the report {expected.num_rows}.")
    return len(exported.files), problems


def write_close_pack(reports_dir: Path, pack: ClosePack) -> dict[str, Path]:
    """``<reports_dir>/close_pack/<period>.xlsx`` and ``.html``: the month's statements in one workbook."""
    folder = reports_dir / CLOSE_PACK_FOLDER
    workbook, page = workbook_bytes(pack), html_page(pack).encode()
    return {"xlsx": write_atomic(folder / f"{pack.period}.xlsx", lambda handle: handle.write(workbook)),
            "html": write_atomic(folder / f"{pack.period}.html", lambda handle: handle.write(page))}


def close_pack_manifest(reports_dir: Path, period: str, outcomes: list[ExportOutcome],
                        pack: ClosePack | None = None, pack_files: dict[str, Path] | None = None) -> Path:
    """``<reports_dir>/close_pack/<period>.json``: every file of the month's pack with its SHA-256
    (the reports' files, and the workbook and HTML page with the checks they show)."""
    files = [
        {"report": o.report, "format": fmt, "path": str(path.relative_to(reports_dir)), "rows": p.rows,
         "sha256": file_sha256(path)}
        for o in outcomes for p in o.exported if p.period == period for fmt, path in sorted(p.files.items())
    ]
    document: dict = {"period": period, "exported_at": datetime.now(UTC).isoformat(timespec="seconds"), "files": files}
    if pack is not None and pack_files:
        document["workbook"] = {fmt: {"path": str(path.relative_to(reports_dir)), "sha256": file_sha256(path)}
                                for fmt, path in sorted(pack_files.items())}
        document["as_of_date"] = pack.as_of_date.isoformat()
        document["month_to_date"] = not pack.is_month_end
        document["checks"] = [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in pack.checks]
    data = (json.dumps(document, indent=2) + "\n").encode()
    return write_atomic(reports_dir / CLOSE_PACK_FOLDER / f"{period}.json", lambda handle: handle.write(data))


def export_for_finance(
    duckdb_path: Path | str,
    reports_dir: Path | str,
    names: list[str],
    *,
    periods: list[str] | None = None,
    close_pack: bool = False,
    entity: str | None = None,
) -> list[ExportOutcome]:
    """Export ``names`` (every period, or those of ``periods`` each report has), read every file written
    back; with ``close_pack`` also write each period's workbook, HTML page and manifest (a tie-out
    the workbook's cover shows as failed is a problem of the report it checks). ``entity`` is the
    name on the close pack's cover (``Settings.entity_name``)."""
    reports_dir = Path(reports_dir)
    outcomes = []
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        for name in names:
            spec = report(name)
            chosen = None if periods is None else [p for p in periods if p in set(report_periods(con, spec))]
            outcome = ExportOutcome(name, reports_dir / name)
            outcome.exported = export_report(con, spec, reports_dir, periods=chosen)
            for exported in outcome.exported:
                if exported.rewritten:  # kept files were verified against their SHA-256 already
                    checked, problems = read_back(exported)
                    outcome.files_checked += checked
                    outcome.problems += problems
            outcomes.append(outcome)
        if close_pack and periods:
            for period in periods:
                pack = build_close_pack(con, period, entity=entity)
                _report_failed_checks(pack, outcomes)
                close_pack_manifest(reports_dir, period, outcomes, pack, write_close_pack(reports_dir, pack))
    return outcomes


def _report_failed_checks(pack: ClosePack, outcomes: list[ExportOutcome]) -> None:
    by_report = {o.report: o for o in outcomes}
    for check in pack.checks:
        if not check.passed and outcomes:
            outcome = by_report.get(check.report, outcomes[0])
            outcome.problems.append(f"close pack {pack.period}: {check.name} FAILED ({check.detail}); the workbook "
                                    "shows it on its cover. Run `subledger verify` and rebuild the reports.")


def file_listing_markdown(outcome: ExportOutcome, limit: int = 24) -> str:
    """How many periods were rewritten and unchanged, and the newest periods' files, as markdown
    (for the asset's metadata)."""
    lines = ["| period | rows | files | this run |", "|---|---:|---|---|"]
    for exported in sorted(outcome.exported, key=lambda p: p.period, reverse=True)[:limit]:
        names = ", ".join(f"`{path.name}`" for _, path in sorted(exported.files.items()))
        skipped = "; ".join(f"{fmt} skipped: {why}" for fmt, why in exported.skipped.items())
        state = "rewritten" if exported.rewritten else "unchanged"
        lines.append(f"| {exported.period} | {exported.rows} | {names}{' ' + skipped if skipped else ''} | {state} |")
    if len(lines) == 2:
        return f"_{outcome.report}: no periods to export yet._"
    return (f"Folder `{outcome.folder}`: {outcome.rewritten} period(s) rewritten, {outcome.unchanged} unchanged.\n\n"
            + "\n".join(lines))
