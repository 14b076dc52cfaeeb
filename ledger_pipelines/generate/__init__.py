"""Deterministic sample source events for the whole contract (``subledger generate``).

:func:`generate` simulates a subscription business (:mod:`.events`), renders it as contract
events (:mod:`.render`), sprinkles ~0.1% of deliberately bad events (:mod:`.bad`) and writes one
file per month, in several formats so every reader is exercised:

* the 2nd month: ``events-YYYY-MM.csv``; the 3rd: ``events-YYYY-MM.parquet``;
* the 4th, 7th, 10th, ...: ``events-YYYY-MM.jsonl.gz``;
* all others: ``events-YYYY-MM.jsonl``.

Same arguments -> byte-identical files (one seeded PCG64 stream, gzip without timestamps, no
clock reads). A hidden manifest (``.generate-manifest.json``) lists every bad event with the
reason code ingestion must give it, for tests and the demo.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from ledger_pipelines.generate import bad as B
from ledger_pipelines.generate import catalog as C
from ledger_pipelines.generate.events import month_starts, simulate
from ledger_pipelines.generate.render import ROW_SCHEMA, render

MANIFEST_NAME = ".generate-manifest.json"
FILE_COLUMNS = ("event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id", "amount",
                "currency", "payload", "metadata")


@dataclass
class GenerateResult:
    """What :func:`generate` wrote."""

    files: list[Path]
    events: int  # lines/rows written, bad ones included
    by_type: dict[str, int]
    bad: list[dict] = field(default_factory=list)  # {"file", "event_id", "kind", "reason_code"}
    seconds: float = 0.0

    def summary(self) -> str:
        kinds = Counter(b["reason_code"] for b in self.bad)
        lines = [f"wrote {self.events:,} events in {len(self.files)} files ({self.seconds:.1f} s)"]
        lines += [f"  {name}: {count:,}" for name, count in sorted(self.by_type.items())]
        lines.append(f"  deliberately bad: {len(self.bad)} ({', '.join(f'{k}={v}' for k, v in sorted(kinds.items()))})")
        return "\n".join(lines)


def file_format(month: int) -> str:
    """The format of the file of month ``month`` (0-based)."""
    if month == 1:
        return "csv"
    if month == 2:
        return "parquet"
    if month >= 3 and month % 3 == 0:
        return "jsonl.gz"
    return "jsonl"


def generate(out_dir: str | Path, *, subscriptions: int = 1000, months: int = 12, seed: int = 42,
             start: date = date(2024, 1, 1), bad_rate: float = C.BAD_EVENT_RATE) -> GenerateResult:
    """Write the sample files into ``out_dir`` (created if needed); see the module docs."""
    if subscriptions < 1 or months < 1:
        raise ValueError("subscriptions and months must be at least 1")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bounds = month_starts(start, months)
    events, subs = simulate(subscriptions, months, seed, start)
    rows = render(events, subs, seed=seed, bounds=bounds)
    by_type = {k: int(v) for k, v in rows.group_by("event_type").len().sort("event_type").iter_rows()}
    rng = np.random.default_rng(np.random.PCG64([seed, 1]))
    files, bad_events, total = [], [], 0
    for (month,), month_rows in rows.partition_by("month", as_dict=True, maintain_order=True).items():
        month_rows = month_rows.sort("position")
        fmt = file_format(int(month))
        label = np.datetime64(int(bounds[int(month)]), "us").astype("datetime64[M]").astype(str)
        path = out / f"events-{label}.{fmt}"
        written, bad = _write(path, fmt, month_rows, rng, bad_rate)
        files.append(path)
        bad_events += bad
        total += written
    manifest = {"seed": seed, "subscriptions": subscriptions, "months": months, "start": start.isoformat(),
                "files": [p.name for p in files], "bad": bad_events}
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return GenerateResult(files=files, events=total, by_type=by_type, bad=bad_events, seconds=time.perf_counter() - started)


def _write(path: Path, fmt: str, rows: pl.DataFrame, rng: np.random.Generator, rate: float) -> tuple[int, list[dict]]:
    """Write one file: the good rows plus damaged copies right after their sources."""
    picks = B.pick(rows, fmt, rate, rng)
    bad_rows, manifest = [], []
    sources = rows.select("position", *FILE_COLUMNS)
    for serial, (index, kind) in enumerate(picks):
        source = sources.row(index, named=True)
        position = source.pop("position") + (serial + 1) / (len(picks) + 2)
        damaged = B.damage(source, kind, serial)
        if kind == "broken_line":
            line = B.json_line(damaged)[:-7]
        elif kind == "ragged_row":
            line = None
        else:
            line = B.json_line(damaged)
        bad_rows.append((position, damaged, line, kind))
        manifest.append({"file": path.name, "event_id": damaged["event_id"] if kind not in ("broken_line", "ragged_row") else None,
                         "kind": kind, "reason_code": B.KINDS[kind]})
    if fmt in ("jsonl", "jsonl.gz"):
        lines = pl.concat([
            rows.select("position", "line"),
            pl.DataFrame({"position": [b[0] for b in bad_rows], "line": [b[2] for b in bad_rows]},
                         schema={"position": pl.Float64, "line": pl.Utf8}),
        ]).sort("position")
        data = (lines["line"].str.join("\n").item() + "\n").encode("utf-8") if lines.height else b""
        if fmt == "jsonl.gz":
            data = gzip.compress(data, compresslevel=6, mtime=0)
        path.write_bytes(data)
    elif fmt == "csv":
        _write_csv(path, rows, bad_rows)
    else:
        _write_parquet(path, rows, bad_rows)
    return rows.height + len(bad_rows), manifest


def _bad_frame(bad_rows: list[tuple], amount_type: pl.DataType) -> pl.DataFrame:
    schema = {"position": pl.Float64, **{c: (amount_type if c == "amount" else pl.Utf8) for c in FILE_COLUMNS}}
    records = []
    for position, damaged, _line, kind in bad_rows:
        if kind == "ragged_row":
            continue
        record = {"position": position, **{c: damaged.get(c) for c in FILE_COLUMNS}}
        if amount_type == pl.Utf8 and record["amount"] is not None:
            record["amount"] = str(record["amount"])
        records.append(record)
    return pl.DataFrame(records, schema=schema, orient="row") if records else pl.DataFrame(schema=schema)


def _write_csv(path: Path, rows: pl.DataFrame, bad_rows: list[tuple]) -> None:
    good = rows.select("position", *FILE_COLUMNS).with_columns(pl.col("amount").cast(pl.Utf8))
    table = pl.concat([good, _bad_frame(bad_rows, pl.Utf8)]).sort("position")
    buffer = io.BytesIO()
    table.drop("position").write_csv(buffer)
    text = buffer.getvalue().decode("utf-8")
    header, _, body = text.partition("\n")
    lines = pl.DataFrame({"position": table["position"], "line": pl.Series(body.rstrip("\n").split("\n")) if table.height else []},
                         schema={"position": pl.Float64, "line": pl.Utf8})
    # ragged rows: the damaged copy without its last column (one field short of the header)
    ragged = []
    for position, damaged, _line, kind in bad_rows:
        if kind == "ragged_row":
            row = io.StringIO()
            csv.writer(row, lineterminator="").writerow(["" if damaged[c] is None else str(damaged[c]) for c in FILE_COLUMNS[:-1]])
            ragged.append((position, row.getvalue()))
    if ragged:
        lines = pl.concat([lines, pl.DataFrame(ragged, schema={"position": pl.Float64, "line": pl.Utf8}, orient="row")])
    lines = lines.sort("position")
    path.write_bytes((header + "\n" + lines["line"].str.join("\n").item() + "\n").encode("utf-8"))


def _write_parquet(path: Path, rows: pl.DataFrame, bad_rows: list[tuple]) -> None:
    good = rows.select("position", *FILE_COLUMNS)
    table = pl.concat([good, _bad_frame(bad_rows, pl.Int64)]).sort("position")
    # metadata as a struct column (the contract allows JSON text or struct); payload stays JSON text
    metadata = table["metadata"].str.json_decode(pl.Struct({"channel": pl.Utf8, "provider": pl.Utf8, "region": pl.Utf8,
                                                            "source": pl.Utf8}))
    table = table.with_columns(metadata=metadata).drop("position")
    table.write_parquet(path, compression="zstd", statistics=False)


__all__ = ["GenerateResult", "ROW_SCHEMA", "generate", "file_format"]
