"""CSV (RFC 4180 with a header row): each row rendered to the JSON object text the other formats produce."""


from __future__ import annotations

import csv
import io

import numpy as np
import polars as pl

from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.readers.jsonl import _line_offsets
from ledger_pipelines.ingest.readers.raw import ENVELOPE_FIELDS, REQUIRED_COLUMNS, RawFile, ReadLimits, empty_raw, unreadable_file
from ledger_pipelines.ingest.readers.tables import _finish_rendered, _render_table


def read_csv_bytes(data: bytes, source: str, limits: ReadLimits | None = None) -> RawFile:
    """Parse an RFC 4180 CSV file with a header row; see the module docs.

    Python's C ``csv`` parser is used (not Polars') because it reports each row's field count and
    line, so a row with a missing or extra field is rejected instead of silently padded. Rows are
    rendered to JSON in pieces of about :data:`CSV_CELLS_PER_PIECE` cells, so the parser's Python
    objects never hold more than one piece; a header wider than ``limits.max_columns`` is refused
    before any row is parsed, and a physical line longer than ``limits.max_line_bytes`` refuses
    the file (a CSV row cannot be cut out of the file reliably).
    """
    limits = limits or ReadLimits()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return unreadable_file(source, f"the file is not UTF-8 text (byte {exc.start}); re-export it as UTF-8.", bytes_read=len(data))
    longest, at_line = _longest_line(data)
    if longest > limits.max_line_bytes:
        return unreadable_file(source, f"line {at_line} is {longest:,} bytes, longer than SUBLEDGER_MAX_LINE_BYTES "
                               f"({limits.max_line_bytes:,}); one event may be at most 1 MiB. Split the file or move large "
                               "content out of the events.", bytes_read=len(data))
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_line_bytes))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return unreadable_file(source, f"the CSV header row cannot be parsed ({exc}).", bytes_read=len(data))
    if header is None:
        return RawFile(source, empty_raw(), bytes_read=len(data))
    if len(header) > limits.max_columns:
        return unreadable_file(source, f"the header has {len(header):,} columns, more than SUBLEDGER_MAX_COLUMNS "
                               f"({limits.max_columns}); an event has the columns {', '.join(ENVELOPE_FIELDS)} and a few "
                               "extra ones at most. Re-export the file with the event columns only.", bytes_read=len(data))
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if missing or duplicates or any(h == "" for h in header):
        problem = (f"the header lacks the required column(s) {', '.join(missing)}" if missing else
                   f"the header repeats the column(s) {', '.join(duplicates)}" if duplicates else "the header has an empty column name")
        return unreadable_file(source, f"{problem}; the first row must name the columns "
                               f"({', '.join(ENVELOPE_FIELDS)}).", bytes_read=len(data))
    width = len(header)
    per_piece = max(1, CSV_CELLS_PER_PIECE // width)
    pieces: list[pl.DataFrame] = []
    rows: list[list[str]] = []
    first_lines: list[int] = []
    ragged: list[tuple[int, int, int]] = []  # (first line, last line, field count)
    previous = reader.line_num
    try:
        for row in reader:
            if len(row) == width:
                rows.append(row)
                first_lines.append(previous + 1)
                if len(rows) >= per_piece:
                    pieces.append(_render_csv_rows(header, rows, first_lines, source))
                    rows, first_lines = [], []
            elif row:  # csv yields [] for a blank line; a ragged row keeps only where it is
                ragged.append((previous + 1, reader.line_num, len(row)))
            previous = reader.line_num
    except csv.Error as exc:
        return unreadable_file(source, f"the CSV cannot be parsed after line {previous} ({exc}).", bytes_read=len(data))
    if rows or not pieces:
        pieces.append(_render_csv_rows(header, rows, first_lines, source))
    rendered = pl.concat(pieces) if len(pieces) > 1 else pieces[0]
    if ragged:
        source_lines = text.split("\n")
        bad = pl.DataFrame({
            "line_no": [first for first, _, _ in ragged],
            "raw": ["\n".join(source_lines[first - 1:last]).rstrip("\r").encode() for first, last, _ in ragged],
            "message": [
                f"CSV row at line {first} has {count} fields but the header has {width}; quote fields "
                "that contain commas, quotes or line breaks and double embedded quotes." for first, _, count in ragged
            ],
        }, schema={"line_no": pl.Int64, "raw": pl.Binary, "message": pl.Utf8}).with_columns(
            source_file=pl.lit(source), reason_code=pl.lit(R.MALFORMED_CSV_ROW)
        )
        rendered = pl.concat([rendered, bad], how="diagonal_relaxed").sort("line_no")
    return RawFile(source, _finish_rendered(rendered), bytes_read=len(data))


CSV_CELLS_PER_PIECE = 2_000_000  # cells parsed into Python strings before they are rendered to JSON


def _render_csv_rows(header: list[str], rows: list[list[str]], first_lines: list[int], source: str) -> pl.DataFrame:
    """One piece of CSV rows (all as wide as the header) rendered to JSON objects."""
    columns = {name: list(values) for name, values in zip(header, zip(*rows, strict=True), strict=True)} if rows else {name: [] for name in header}
    table = pl.DataFrame(columns, schema={name: pl.Utf8 for name in header})
    table = table.with_columns([pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in header])
    return _render_table(table, pl.Series("line_no", first_lines, dtype=pl.Int64), source, kind="CSV row")


def _longest_line(data: bytes) -> tuple[int, int]:
    """(length in bytes, 1-based number) of the longest physical line of ``data``."""
    offsets = _line_offsets(data, 0)
    if len(offsets) < 2:
        return 0, 1
    lengths = np.diff(offsets)
    at = int(lengths.argmax())
    return int(lengths[at]), at + 1
