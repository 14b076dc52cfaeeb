"""Exporting reports for finance: ``<reports_dir>/<report>/<period>.{csv,parquet,xlsx}``.

* Parquet keeps the warehouse's types: money stays BIGINT minor units (for tools).
* CSV and XLSX are for people: money in major units with exactly the currency's decimals
  (``12.34`` USD, ``1500`` JPY, ``12.345`` KWD), computed with integers, never floats. XLSX cells
  are numbers formatted with those decimals (text beyond 2**53 minor units, where a spreadsheet
  number would round).
* Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a leading ``'``
  so that a spreadsheet never runs them as a formula (CSV/formula injection). Only text is
  touched: a negative amount is a number and stays ``-12.34``.
* Every file is written to a temporary file in the same folder, flushed and fsynced, then
  renamed over the target (and the folder fsynced): readers see the old file or the new one,
  never a partial one, and a failed export leaves nothing behind.
* A period is written only when its content changed (:class:`ExportManifest`): a run after a few
  new events rewrites the month they fall in, not every month.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ledger_pipelines.accounting.money import decimals, format_minor
from ledger_pipelines.reports.catalog import REPORTS, ReportSpec, column_title, report
from ledger_pipelines.reports.xlsx_sheet import Cell, write_sheet

FORMATS = ("csv", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_575  # a sheet holds 1,048,576 rows, one is the header
EXACT_IN_SPREADSHEET = 2**53  # integers up to this are exact as IEEE doubles
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportError(RuntimeError):
    """An export could not be written; the message says which and what to do."""


@dataclass(frozen=True)
class ExportedPeriod:
    """The files of one report and period: written in this run (``rewritten``), or left as they were
    because the period's content had not changed since they were written."""

    report: str
    period: str
    rows: int
    files: dict[str, Path]
    csv_sha256: str | None = None  # fingerprint of the content (CSV bytes are deterministic)
    skipped: dict[str, str] = field(default_factory=dict)  # format -> why it was not written
    rewritten: bool = True
    table: pa.Table | None = field(default=None, repr=False, compare=False)  # the rows written, to read back


# -- cells -----------------------------------------------------------------------------------------
def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would read as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _text(value: Any) -> str:
    """A non-money cell as CSV text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return neutralise(str(value))


def _xlsx_value(value: Any) -> Any:
    """A non-money cell for a workbook: numbers, booleans and dates as themselves, anything else as
    neutralised text (an instant too: spreadsheets have no time zones, so it stays ISO text)."""
    if value is None or isinstance(value, (bool, int, Decimal)):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return neutralise(value if isinstance(value, str) else str(value))


# -- atomic files ----------------------------------------------------------------------------------
def write_atomic(path: Path, write: Callable[[IO[bytes]], object], *, durable: bool = True) -> Path:
    """Write ``path`` via a temporary file in the same folder and rename it over the target (readers
    see the old file or the new one, never a partial one); clean up on failure. ``durable``: fsync
    the file before and the folder after the rename. A caller writing many files passes
    ``durable=False`` and calls :func:`sync_files` once after the last."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        _fsync_folder(path.parent)
    return path


def sync_files(folder: Path) -> None:
    """Make every file written under ``folder``'s file system durable with one call (Linux
    ``syncfs``; elsewhere ``sync``): one flush for a run's thousand files instead of two fsyncs each."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    with suppress(OSError):  # not every file system lets a folder be opened for fsync
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- one table -------------------------------------------------------------------------------------
def _money_places(table: pa.Table, money_columns: Sequence[str], currency_column: str) -> list[int]:
    if not money_columns:
        return []
    if currency_column not in table.column_names:
        raise ExportError(f"the table has money columns {list(money_columns)} but no {currency_column!r} column "
                          "saying their currency; add it to the report.")
    cache: dict[str, int] = {}
    places = []
    for code in table.column(currency_column).to_pylist():
        if code not in cache:
            cache[code] = decimals(code)
        places.append(cache[code])
    return places


def csv_bytes(table: pa.Table, money_columns: Sequence[str] = (), currency_column: str = "currency") -> bytes:
    """The table as UTF-8 CSV: header row, money in major units, text neutralised."""
    places = _money_places(table, money_columns, currency_column)
    money = set(money_columns)
    columns = []
    for name in table.column_names:
        values = table.column(name).to_pylist()
        if name in money:
            columns.append(["" if v is None else format_minor(v, p) for v, p in zip(values, places, strict=True)])
        else:
            columns.append([_text(v) for v in values])
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in table.column_names])
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue().encode("utf-8")


def _write_parquet(table: pa.Table) -> Callable[[IO[bytes]], None]:
    def write(handle: IO[bytes]) -> None:
        pq.write_table(table, handle, compression="zstd")

    return write


def amount_format(places: int) -> str:
    """The spreadsheet number format of an amount with ``places`` decimals: thousands grouped,
    negatives in parentheses (as finance prints them), e.g. ``#,##0.00_);(#,##0.00)``."""
    digits = "#,##0" + ("." + "0" * places if places else "")
    return f"{digits}_);({digits})"


def spreadsheet_amount(amount: int, places: int) -> Decimal | str:
    """A money cell's value: the exact number in major units, or exact text where a spreadsheet's
    double would round it (2**53 minor units and beyond)."""
    text = format_minor(amount, places)
    return Decimal(text) if abs(amount) < EXACT_IN_SPREADSHEET else text


WIDTH_SAMPLE_ROWS = 2000  # column widths fit the header and this many first rows


def column_widths(header: Sequence[str], rows: Iterable[Sequence[str]], *, sample: int = WIDTH_SAMPLE_ROWS,
                  widest: int = 60) -> list[float]:
    """Spreadsheet column widths that fit the header and the first ``sample`` rows' text."""
    widths = [len(h) for h in header]
    for number, row in enumerate(rows):
        if number >= sample:
            break
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    return [min(w + 2, widest) for w in widths]


def _write_xlsx(table: pa.Table, money_columns: Sequence[str], currency_column: str, title: str
                ) -> Callable[[IO[bytes]], None]:
    """The table as a one-sheet workbook (:mod:`xlsx_sheet`): readable headers in bold, frozen, an
    autofilter, columns as wide as their text, money as numbers with the currency's decimals."""
    places = _money_places(table, money_columns, currency_column)
    money = set(money_columns)
    header = [column_title(name) for name in table.column_names]
    formats = {p: amount_format(p) for p in set(places)}
    shown_columns, cell_columns = [], []
    for name in table.column_names:
        values = table.column(name).to_pylist()
        sample = values[:WIDTH_SAMPLE_ROWS]  # the widths fit the first rows' text: format only those
        if name in money:
            shown_columns.append(["" if v is None else format_minor(v, p, grouped=True) + "  "
                                  for v, p in zip(sample, places, strict=False)])
            cell_columns.append([None if v is None else Cell(spreadsheet_amount(v, p), formats[p])
                                 for v, p in zip(values, places, strict=True)])
        else:
            shown_columns.append([_text(v) for v in sample])
            cell_columns.append([_xlsx_value(v) for v in values])
    widths = column_widths(header, zip(*shown_columns, strict=True), sample=WIDTH_SAMPLE_ROWS)
    rows = list(zip(*cell_columns, strict=True))

    def write(handle: IO[bytes]) -> None:
        write_sheet(handle, title, [neutralise(h) for h in header], rows, widths, list(formats.values()))

    return write


def export_table(
    table: pa.Table,
    base: Path,
    *,
    money_columns: Sequence[str] = (),
    currency_column: str = "currency",
    formats: Iterable[str] = FORMATS,
    title: str = "report",
    csv_data: bytes | None = None,
    durable: bool = True,
) -> tuple[dict[str, Path], dict[str, str], str | None]:
    """Write ``table`` to ``base.csv``/``.parquet``/``.xlsx`` atomically (``csv_data``: the CSV bytes
    if the caller made them already; ``durable``: see :func:`write_atomic`).

    Returns (files written, formats skipped with the reason, sha256 of the CSV bytes)."""
    formats = _checked_formats(formats)
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    digest = None
    if "csv" in formats:
        data = csv_data if csv_data is not None else csv_bytes(table, money_columns, currency_column)
        digest = hashlib.sha256(data).hexdigest()
        written["csv"] = write_atomic(base.with_suffix(".csv"), lambda h: h.write(data), durable=durable)
    if "parquet" in formats:
        written["parquet"] = write_atomic(base.with_suffix(".parquet"), _write_parquet(table), durable=durable)
    if "xlsx" in formats:
        if table.num_rows > XLSX_MAX_ROWS:
            skipped["xlsx"] = (f"{table.num_rows} rows do not fit in one sheet ({XLSX_MAX_ROWS} at most); "
                               "use the CSV or Parquet file.")
        else:
            written["xlsx"] = write_atomic(base.with_suffix(".xlsx"),
                                           _write_xlsx(table, money_columns, currency_column, title), durable=durable)
    return written, skipped, digest


def _checked_formats(formats: Iterable[str]) -> list[str]:
    formats = list(formats)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ExportError(f"unknown export formats {sorted(unknown)}; choose from {', '.join(FORMATS)}.")
    return formats


# -- which periods changed -------------------------------------------------------------------------
MANIFEST_FOLDER = ".exports"  # <reports_dir>/.exports/<report>.json, out of the folders finance browses
#: Bump when the files made from the same rows change (columns, captions, formats): every period is
#: then written again once.
LAYOUT_VERSION = 2


def content_sha256(spec: ReportSpec, table: pa.Table, csv_data: bytes, formats: Sequence[str]) -> str:
    """What a period's files are made of: the rows (their CSV bytes, which are deterministic), the
    column types (Parquet), the formats asked for and the layout of this code."""
    digest = hashlib.sha256()
    for part in (f"layout {LAYOUT_VERSION}", spec.title, ",".join(spec.money_columns), ",".join(sorted(formats)),
                 table.schema.to_string(show_schema_metadata=False)):
        digest.update(part.encode() + b"\0")
    digest.update(csv_data)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ExportManifest:
    """``<reports_dir>/.exports/<report>.json``: per period, the content hash its files were written
    from and each file's SHA-256. A period whose content hash is unchanged and whose files are all
    still there, byte for byte, is not written again."""

    def __init__(self, reports_dir: Path, report_name: str) -> None:
        self.folder = reports_dir / report_name
        self.path = reports_dir / MANIFEST_FOLDER / f"{report_name}.json"
        self.periods: dict[str, dict] = {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(document, dict) and isinstance(document.get("periods"), dict):
                self.periods = document["periods"]
        except (FileNotFoundError, ValueError):
            pass  # no manifest, or a damaged one: every period is written again

    def unchanged(self, period: str, content: str) -> tuple[dict[str, Path], dict[str, str]] | None:
        """(files, skipped formats) of ``period`` if they hold ``content`` already, else None."""
        entry = self.periods.get(period)
        if not isinstance(entry, dict) or entry.get("content_sha256") != content:
            return None
        files = {}
        for fmt, recorded in entry.get("files", {}).items():
            path = self.folder / recorded["name"]
            if not path.is_file() or file_sha256(path) != recorded["sha256"]:
                return None
            files[fmt] = path
        return files, dict(entry.get("skipped", {}))

    def record(self, period: str, content: str, rows: int, files: dict[str, Path], skipped: dict[str, str]) -> None:
        self.periods[period] = {
            "content_sha256": content, "rows": rows, "skipped": skipped,
            "files": {fmt: {"name": path.name, "sha256": file_sha256(path)} for fmt, path in sorted(files.items())},
        }

    def save(self) -> None:
        data = (json.dumps({"layout": LAYOUT_VERSION, "periods": dict(sorted(self.periods.items()))}, indent=1) + "\n").encode()
        write_atomic(self.path, lambda handle: handle.write(data))


# -- reports ---------------------------------------------------------------------------------------
def report_periods(con: duckdb.DuckDBPyConnection, spec: ReportSpec) -> list[str]:
    """The periods a report has rows for, oldest first."""
    try:
        rows = con.execute(f'SELECT DISTINCT "{spec.period_column}" FROM {spec.relation} ORDER BY 1').fetchall()
    except duckdb.CatalogException as exc:
        raise ExportError(f"{spec.relation} is not in the warehouse: build the reports first "
                          "(`subledger run`, or ledger_pipelines.reports.dbt_runner.build_reports).") from exc
    return [str(r[0]) for r in rows if r[0] is not None]


def export_report(
    con: duckdb.DuckDBPyConnection,
    name: str | ReportSpec,
    reports_dir: Path,
    *,
    periods: Iterable[str] | None = None,
    formats: Iterable[str] = FORMATS,
) -> list[ExportedPeriod]:
    """Export one report, one file set per period (all periods, or only ``periods``).

    A period whose content is what its files were written from (the report folder's
    :class:`ExportManifest`) keeps its files: only changed periods are written again."""
    spec = name if isinstance(name, ReportSpec) else report(name)
    available = report_periods(con, spec)
    wanted = available if periods is None else [str(p) for p in periods]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ExportError(f"{spec.name} has no rows for period(s) {', '.join(missing)}; "
                          f"its periods are {', '.join(available) or 'none (is the warehouse built?)'}.")
    formats = _checked_formats(formats)
    folder = Path(reports_dir) / spec.name
    manifest = ExportManifest(Path(reports_dir), spec.name)
    out = []
    for period, table in period_tables(con, spec, None if periods is None else wanted):
        data = csv_bytes(table, spec.money_columns, spec.currency_column)
        digest = hashlib.sha256(data).hexdigest()
        content = content_sha256(spec, table, data, formats)
        kept = manifest.unchanged(period, content)
        if kept is not None:
            out.append(ExportedPeriod(spec.name, period, table.num_rows, kept[0], digest, kept[1], rewritten=False))
            continue
        files, skipped, digest = export_table(
            table, folder / period, money_columns=spec.money_columns, currency_column=spec.currency_column,
            formats=formats, title=spec.name, csv_data=data, durable=False,
        )
        manifest.record(period, content, table.num_rows, files, skipped)
        out.append(ExportedPeriod(spec.name, period, table.num_rows, files, digest, skipped, table=table))
    if any(p.rewritten for p in out):
        sync_files(folder)  # every rewritten file is on disk before the manifest says it is
        manifest.save()
    return out


def period_tables(con: duckdb.DuckDBPyConnection, spec: ReportSpec,
                  periods: Sequence[str] | None) -> Iterator[tuple[str, pa.Table]]:
    """``(period, rows in the report's order)`` for every period (one query, cut by period), or for
    ``periods`` (one query each: a close pack asks for one month of years)."""
    order = ", ".join(f'"{c}"' for c in spec.order_by)
    if periods is not None:
        for period in periods:
            yield period, con.sql(f'SELECT * FROM {spec.relation} WHERE "{spec.period_column}" = ? ORDER BY {order}',
                                  params=[period]).to_arrow_table()
        return
    table = con.sql(f'SELECT * FROM {spec.relation} WHERE "{spec.period_column}" IS NOT NULL '
                    f'ORDER BY "{spec.period_column}", {order}').to_arrow_table()
    keys = [str(v) for v in table.column(spec.period_column).to_pylist()]
    start = 0
    for index in range(1, len(keys) + 1):
        if index == len(keys) or keys[index] != keys[start]:
            yield keys[start], table.slice(start, index - start)
            start = index


def export_reports(
    duckdb_path: Path | str,
    reports_dir: Path | str,
    *,
    reports: Iterable[str] | None = None,
    periods: Iterable[str] | None = None,
    formats: Iterable[str] = FORMATS,
) -> dict[str, list[ExportedPeriod]]:
    """Export every report (or ``reports``) from the warehouse at ``duckdb_path`` (opened read-only).

    With ``periods``, each report exports those of them it has rows for (a monthly close pack)."""
    names = list(reports) if reports is not None else list(REPORTS)
    formats = list(formats)
    wanted = None if periods is None else [str(p) for p in periods]
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        results = {}
        for name in names:
            spec = report(name)
            chosen = None if wanted is None else [p for p in wanted if p in set(report_periods(con, spec))]
            results[name] = export_report(con, spec, Path(reports_dir), periods=chosen, formats=formats)
        return results
