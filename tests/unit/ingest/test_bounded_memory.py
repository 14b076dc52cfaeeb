"""Hostile files cannot exhaust memory: each is read in a child process whose peak RSS is measured
(``getrusage(RUSAGE_CHILDREN)``) and whose address space is capped, so a reader that tried to hold
the whole expansion would die there instead of here."""

from __future__ import annotations

import gzip
import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ledger_pipelines.ingest import reasons as R
from tests.unit.ingest.helpers import invoice, only_reject, prepare, run, write

# Importing the pipeline (Polars, DuckDB, Arrow, Pandera) costs ~250 MB; reading a hostile file may add
# this much at most, whatever it expands to.
ALLOWED_GROWTH_MB = 400
ADDRESS_SPACE_CAP = 6 << 30  # the child dies (MemoryError) before it could take the machine down

CHILD = textwrap.dedent("""
    import json, resource, sys
    from datetime import UTC, datetime
    from ledger_pipelines.config import load_settings
    from ledger_pipelines.ingest.prepare import prepare_batch
    from ledger_pipelines.ingest.rules import load_rules
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    settings = load_settings({{"SUBLEDGER_HOME": sys.argv[2]}})
    rules = load_rules(environ={{}})
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batch = prepare_batch([sys.argv[1]] if sys.argv[1] != "-" else [], rules, settings, now=datetime(2024, 6, 1, tzinfo=UTC))
    print(json.dumps({{"baseline_kb": baseline, "reasons": batch.rejects["reason_code"].to_list(),
                      "messages": batch.rejects["message"].to_list(), "planned": batch.counts["planned"]}}))
""").format(cap=ADDRESS_SPACE_CAP)


def _ingest_in_child(path: Path | str, home: Path) -> tuple[dict, int]:
    """The front end on ``path`` in a fresh process: its report and its peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(home)], capture_output=True, text=True, timeout=600)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert done.returncode == 0, done.stderr[-3000:]
    # ru_maxrss of the children is the largest of any child so far: only a new maximum is this child's
    assert peak_kb >= before
    return json.loads(done.stdout), peak_kb // 1024


@pytest.fixture(scope="module")
def import_only_mb(tmp_path_factory) -> int:
    """Peak RSS of a child that imports everything and reads no file."""
    home = tmp_path_factory.mktemp("home")
    report, peak = _ingest_in_child("-", home)
    assert report["planned"] == 0
    return peak


def test_a_gzip_bomb_is_refused_whole_with_bounded_memory(tmp_path, import_only_mb):
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:  # ~2 MB that would expand to 2 GiB
        block = b"\x00" * (1 << 20)
        for _ in range(2048):
            handle.write(block)
    assert bomb.stat().st_size < 3 << 20
    report, peak = _ingest_in_child(bomb, tmp_path / "home")
    assert report["reasons"] == [R.UNREADABLE_FILE]
    assert "times its compressed size" in report["messages"][0] and "SUBLEDGER_MAX_GZIP_RATIO" in report["messages"][0]
    assert peak - import_only_mb < ALLOWED_GROWTH_MB, f"{peak} MB peak for a 2 MB file ({import_only_mb} MB to import)"


def test_a_gzip_bomb_of_valid_short_lines_stops_at_the_ratio(tmp_path, import_only_mb):
    line = json.dumps(invoice("x")).encode() + b"\n"
    bomb = tmp_path / "lines.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        for _ in range(40):
            handle.write(line * 10_000)  # ~160 MB of the same line: far more than 100 times the compressed size
    report, peak = _ingest_in_child(bomb, tmp_path / "home")
    assert report["reasons"] == [R.UNREADABLE_FILE] and report["planned"] == 0
    assert "times its compressed size" in report["messages"][0]
    assert peak - import_only_mb < ALLOWED_GROWTH_MB


def test_a_csv_with_100k_columns_is_refused_whole_with_bounded_memory_and_time(tmp_path, import_only_mb):
    path = tmp_path / "wide.csv"
    header = ["event_id", "event_type", "effective_at", *(f"c{i}" for i in range(100_000))]
    row = ["e1", "invoice.issued", "2024-03-01", *("" for _ in range(100_000))]
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    report, peak = _ingest_in_child(path, tmp_path / "home")
    assert report["reasons"] == [R.UNREADABLE_FILE]
    assert "100,003 columns" in report["messages"][0] and "SUBLEDGER_MAX_COLUMNS" in report["messages"][0]
    assert peak - import_only_mb < ALLOWED_GROWTH_MB


def test_a_line_longer_than_the_line_limit_is_quarantined_alone_without_its_bytes(tmp_path):
    huge = json.dumps(invoice("huge", metadata={"note": "x" * (5 << 20)}))
    batch = run(tmp_path, [invoice("small"), huge, invoice("after", payload={**invoice()["payload"], "invoice_id": "inv_2"})],
                "jsonl.gz")
    reject = only_reject(batch)
    assert reject["reason_code"] == R.EVENT_TOO_LARGE and reject["line_no"] == 2 and reject["raw"] == b""
    assert f"line 2 is {len(huge.encode())} bytes" in reject["message"] and "SUBLEDGER_MAX_LINE_BYTES" in reject["message"]
    assert batch.plan.postings["event_id"].sort().to_list() == ["after", "small"]


def test_the_limits_are_settings(tmp_path):
    events = [invoice(f"e{i}", payload={**invoice()["payload"], "invoice_id": f"inv_{i}"}) for i in range(50)]
    tight = run(tmp_path, events, "jsonl", SUBLEDGER_MAX_FILE_BYTES=str(1 << 20))
    assert tight.counts["planned"] == 50  # the file is small
    for fmt in ("jsonl", "jsonl.gz", "csv"):
        big = write(tmp_path, events * 100, fmt, name=f"big_{fmt}")
        refused = only_reject(prepare(tmp_path, [big], SUBLEDGER_MAX_FILE_BYTES=str(1 << 20)))
        assert refused["reason_code"] == R.UNREADABLE_FILE and "SUBLEDGER_MAX_FILE_BYTES" in refused["message"], fmt
    wide = prepare(tmp_path, [write(tmp_path, [dict(invoice(), **{f"x{i}": "1" for i in range(20)})], "csv", name="wide")],
                   SUBLEDGER_MAX_COLUMNS="25")
    assert "more than SUBLEDGER_MAX_COLUMNS (25)" in only_reject(wide)["message"]


def test_line_splitting_keeps_every_line_within_the_limit_and_numbers_the_others(tmp_path):
    """:func:`readers.lines._collect_lines` on random lines cut into random chunks equals a plain split."""
    import random

    from ledger_pipelines.ingest.readers import lines as line_splitting

    rng = random.Random(7)
    cap = 40
    for _ in range(300):
        lines = [bytes(rng.choice(b"ab{}") for _ in range(rng.choice([0, 1, 5, 39, 40, 41, 90]))) for _ in range(rng.randint(0, 12))]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6)))) if len(data) > 1 else []
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if b > a]
        got = line_splitting._collect_lines(iter(chunks), line_splitting.ReadLimits(max_line_bytes=cap), budget=len(data))
        physical = data.split(b"\n")
        if data.endswith(b"\n"):
            physical = physical[:-1]
        expected = b"".join((line if len(line) <= cap else b"") + b"\n" for line in physical)
        if not data.endswith(b"\n") and len(physical[-1]) <= cap:
            expected = expected[:-1]
        assert bytes(got.data) == expected, (lines, cuts)
        assert got.oversized == {n: len(line) for n, line in enumerate(physical, 1) if len(line) > cap}


def test_a_parquet_dictionary_bomb_is_refused_whole_with_bounded_memory(tmp_path, import_only_mb):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 200_000  # one 1 MiB payload repeated: 200 GiB decoded, a few MB on disk
    payload = pa.DictionaryArray.from_arrays(pa.array([0] * rows, type=pa.int32()), pa.array(["x" * (1 << 20)]))
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"event_id": pa.array([f"e{i}" for i in range(rows)]),
                             "event_type": pa.array(["invoice.issued"] * rows).dictionary_encode(),
                             "effective_at": pa.array(["2024-03-01"] * rows).dictionary_encode(),
                             "payload": payload}), path)
    assert path.stat().st_size < 16 << 20
    report, peak = _ingest_in_child(path, tmp_path / "home")
    assert report["reasons"] == [R.UNREADABLE_FILE] and "decoded, the file holds more than" in report["messages"][0]
    assert peak - import_only_mb < ALLOWED_GROWTH_MB
