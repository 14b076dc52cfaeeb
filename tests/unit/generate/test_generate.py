"""The sample-data generator: deterministic, complete, realistic, and its bad events are caught."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from ledger_pipelines.cli.generate import generate as generate_command
from ledger_pipelines.config import load_settings
from ledger_pipelines.generate import MANIFEST_NAME, generate
from ledger_pipelines.ingest.prepare import prepare_batch
from ledger_pipelines.ingest.rules import load_rules

SMALL = {"subscriptions": 60, "months": 4, "start": date(2024, 1, 1)}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("sample")
    return out, generate(out, seed=7, **SMALL)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _json_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8").splitlines()


def test_same_seed_same_bytes(tmp_path, sample):
    folder, _ = sample
    generate(tmp_path, seed=7, **SMALL)
    assert _bytes(tmp_path) == _bytes(folder)


def test_different_seed_different_data(tmp_path, sample):
    folder, _ = sample
    generate(tmp_path, seed=8, **SMALL)
    ours, theirs = _bytes(tmp_path), _bytes(folder)
    assert ours.keys() == theirs.keys()
    assert all(ours[name] != theirs[name] for name in ours)


def test_every_format_and_every_event_type(sample):
    folder, result = sample
    suffixes = {p.name.split(".", 1)[1] for p in result.files}
    assert suffixes == {"jsonl", "csv", "parquet", "jsonl.gz"}
    assert set(result.by_type) == set(load_rules(environ={}).rules), "every contract event type appears"
    assert (folder / MANIFEST_NAME).exists()


def test_volume_scales_with_subscriptions(tmp_path, sample):
    _, small = sample
    bigger = generate(tmp_path, seed=7, subscriptions=240, months=4, start=date(2024, 1, 1))
    assert 3.0 < bigger.events / small.events < 5.0


def test_realistic_content(sample):
    folder, _ = sample
    events = [json.loads(line) for path in sorted(folder.glob("*.jsonl*")) for line in _json_lines(path)
              if line.endswith("}") and "_bad" not in line]
    by_type = Counter(e["event_type"] for e in events)
    assert by_type["payment.failed"] > 0 and by_type["payment.initiated"] > by_type["invoice.issued"] * 0.9
    currencies = {e.get("currency") for e in events}
    assert {"USD", "EUR", "JPY"} <= currencies
    plans = {e["payload"]["plan_id"] for e in events if e["event_type"] == "invoice.issued"}
    assert plans == {"basic", "pro", "enterprise"}
    regions = {e["metadata"]["region"] for e in events if "subscription_id" in e}
    assert len(regions) >= 4
    backdated = [e for e in events if "recorded_at" in e and e["recorded_at"][:10] > e["effective_at"][:10]]
    assert backdated, "some events are recorded after the day they take effect"
    payouts = [e for e in events if e["event_type"] == "journal.posted" and "Payout" in e["payload"]["description"]]
    assert payouts and all(len(e["payload"]["legs"]) >= 2 for e in payouts)
    for payout in payouts:
        legs = payout["payload"]["legs"]
        debit = sum(leg["amount"] for leg in legs if leg["direction"] == "debit")
        credit = sum(leg["amount"] for leg in legs if leg["direction"] == "credit")
        assert debit == credit and {leg["account"] for leg in legs} >= {"assets:cash", "assets:cash:in_transit"}
    by_sub: dict[str, set] = {}
    for e in events:
        if e["event_type"] == "invoice.issued":
            by_sub.setdefault(e["subscription_id"], set()).add(e["payload"]["plan_id"])
    assert any(len(p) > 1 for p in by_sub.values()), "some subscriptions change plans"


def test_all_money_is_integer(sample):
    folder, _ = sample

    def no_floats(token):
        raise AssertionError(f"float in the data: {token}")

    for path in folder.glob("*.jsonl*"):
        for line in _json_lines(path):
            if "_bad" in line or not line.endswith("}"):
                continue  # the deliberately bad ones
            event = json.loads(line, parse_float=no_floats)
            assert "amount" not in event or isinstance(event["amount"], int)
            for leg in event.get("payload", {}).get("legs", []):
                assert isinstance(leg["amount"], int)
    parquet = next(folder.glob("*.parquet"))
    assert pl.read_parquet(parquet).schema["amount"] == pl.Int64


def test_bad_events_are_rejected_with_the_expected_reasons(tmp_path, sample):
    folder, result = sample
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["bad"] == result.bad
    settings = load_settings({"SUBLEDGER_HOME": str(tmp_path)})
    rules = load_rules(environ={})
    seen_reasons = set()
    for path in result.files:
        batch = prepare_batch([path], rules, settings, now=datetime(2025, 1, 1, tzinfo=UTC))
        expected = Counter(b["reason_code"] for b in manifest["bad"] if b["file"] == path.name)
        assert Counter(batch.rejects["reason_code"].to_list()) == expected, path.name
        named = {b["event_id"]: b["reason_code"] for b in manifest["bad"] if b["file"] == path.name and b["event_id"]}
        rejected_ids = dict(zip(batch.rejects["event_id"].to_list(), batch.rejects["reason_code"].to_list(), strict=False))
        for event_id, code in named.items():
            if code != "missing_field":  # event_id is present in every other kind
                assert rejected_ids.get(event_id) == code, (path.name, event_id)
        seen_reasons |= set(expected)
        assert batch.counts["events"] == batch.counts["planned"] + batch.counts["rejected"] + batch.counts["duplicates"]
    assert len(seen_reasons) >= 10
    share = len(result.bad) / result.events
    assert share < 0.05


def test_cli(tmp_path):
    runner = CliRunner()
    assert "--subscriptions" in runner.invoke(generate_command, ["--help"]).output
    outcome = runner.invoke(generate_command, ["--out", str(tmp_path), "--subscriptions", "5", "--months", "2", "--seed", "1"])
    assert outcome.exit_code == 0, outcome.output
    assert "events in 2 files" in outcome.output
    bad = runner.invoke(generate_command, ["--out", str(tmp_path), "--start", "March"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def _good_events(subscriptions: int, months: int, seed: int) -> list[dict]:
    """Every event of a sample, without the deliberately bad copies (all files' formats alike)."""
    from ledger_pipelines.generate.events import month_starts, simulate
    from ledger_pipelines.generate.render import render

    start = date(2024, 1, 1)
    rows = render(*simulate(subscriptions, months, seed, start), seed=seed, bounds=month_starts(start, months))
    return [json.loads(line) for line in rows["line"]]


def _receivables_at_the_end(subscriptions: int, months: int, seed: int) -> tuple[dict, dict, set]:
    """Replay the generated events on the receivable accounts the way the posting rules book them:
    (receivable per subscription and currency at the end, last month's billing per currency, the
    subscriptions written off)."""
    events = _good_events(subscriptions, months, seed)
    by_id = {e["event_id"]: e for e in events}
    last_month = f"{date(2024 + (months - 1) // 12, (months - 1) % 12 + 1, 1):%Y-%m}"
    receivable: Counter = Counter()
    billed: Counter = Counter()
    usage: dict[str, int] = {}
    pending: dict[str, tuple[str, str, int]] = {}
    written_off = set()
    for e in sorted(events, key=lambda e: e["effective_at"][:10]):
        kind, key = e["event_type"], (e.get("subscription_id"), e.get("currency"))
        if kind == "invoice.issued":
            receivable[key] += e["amount"]
            billed[e["currency"]] += e["amount"] if e["effective_at"].startswith(last_month) else 0
        elif kind in ("usage.recorded", "usage.corrected"):
            amount = e["payload"]["quantity"] * e["payload"]["unit_amount"]
            receivable[key] += amount - usage.get(e["payload"]["usage_id"], 0)
            usage[e["payload"]["usage_id"]] = amount
            billed[e["currency"]] += amount if e["effective_at"].startswith(last_month) else 0
        elif kind == "credit.applied":
            receivable[key] -= e["amount"]
        elif kind == "payment.initiated":
            pending[e["payload"]["payment_id"]] = (*key, e["amount"])
        elif kind == "payment.settled":
            sub, currency, amount = pending.pop(e["payload"]["payment_id"])
            receivable[(sub, currency)] -= amount
        elif kind == "transaction.reversed":
            target = by_id[e["payload"]["target_event_id"]]
            receivable[(target["subscription_id"], target["currency"])] -= target["amount"]
        elif kind == "journal.posted" and e["payload"]["description"].startswith("Write-off"):
            for leg in e["payload"]["legs"]:
                if leg["account"].startswith("assets:receivables:"):
                    receivable[(leg["account"].split(":")[2], leg["currency"])] -= leg["amount"]
                    written_off.add(leg["account"].split(":")[2])
    return receivable, billed, written_off


def test_usage_is_billed_and_collected_so_receivables_look_like_a_real_business():
    receivable, billed, written_off = _receivables_at_the_end(subscriptions=600, months=12, seed=42)
    for currency in ("USD", "EUR"):
        open_total = sum(v for (_, c), v in receivable.items() if c == currency)
        # what is open at the end is about a month of billing (invoices just issued, last month's usage not
        # billed yet, late payers), not a year of uncollected usage
        assert 0 < open_total < 2 * billed[currency], (currency, open_total, billed[currency])
    assert written_off, "some customers never pay and are written off"
    assert all(receivable[(sub, c)] == 0 for (sub, c) in receivable if sub in written_off), "a write-off clears the balance"


def test_late_payers_and_final_bills_and_nothing_after_the_last_month():
    events = _good_events(subscriptions=200, months=4, seed=7)
    invoices = {e["payload"]["invoice_id"]: e for e in events if e["event_type"] == "invoice.issued"}
    delays = [(date.fromisoformat(p["effective_at"][:10]) - date.fromisoformat(invoices[p["payload"]["invoice_id"]]["effective_at"])).days
              for p in events if p["event_type"] == "payment.initiated" and p["payload"]["invoice_id"] in invoices]
    assert max(delays) >= 20 and sorted(delays)[len(delays) // 2] <= 2  # most pay within days, some weeks late
    assert any(e["payload"]["payment_id"].endswith(("_11", "_12", "_13")) for e in events
               if e["event_type"] == "payment.initiated"), "a subscription that ends pays its last usage in a final bill"
    end = datetime(2024, 5, 1, tzinfo=UTC)  # four months from January

    def instant(text: str) -> datetime:
        return datetime.fromisoformat(text + "T00:00:00+00:00" if len(text) == 10 else text)

    assert all(instant(e["effective_at"]) < end for e in events), "nothing after the sample's last month"
