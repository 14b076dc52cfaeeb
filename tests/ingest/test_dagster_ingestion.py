"""The ingestion domain through Dagster itself: the landing-folder sensor on a real folder and a real
instance, landed-file partitions and the outbox materialised in process against real Postgres."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from ledger_pipelines.defs.ingestion.assets import landing_files, outbox_batches, outbox_table, posted_batches
from ledger_pipelines.defs.ingestion.definitions import defs as ingestion_defs
from ledger_pipelines.defs.ingestion.outbox import outbox_sensor
from ledger_pipelines.defs.ingestion.partitions import landed_files_partitions, partition_key_for
from ledger_pipelines.defs.ingestion.sensors import SETTLE_SECONDS, landing_folder_sensor
from ledger_pipelines.ingest.ingestor import file_hash
from tests.ingest.conftest import assert_consistent, ledger_snapshot

PARTITIONS = landed_files_partitions.name


def _invoice(event_id: str, day: str, recorded: str | None = None, amount: int = 1200) -> dict:
    return {
        "event_id": event_id, "event_type": "invoice.issued", "effective_at": f"{day}T10:00:00Z",
        "recorded_at": f"{recorded or day}T11:00:00Z", "subscription_id": "sub_1", "customer_id": "cus_1",
        "amount": amount, "currency": "USD",
        "payload": {"invoice_id": f"inv_{event_id}", "plan_id": "pro", "period_start": day, "period_end": day},
    }


def _payment(event_id: str, day: str) -> dict:
    return {
        "event_id": event_id, "event_type": "payment.initiated", "effective_at": f"{day}T12:00:00Z",
        "recorded_at": f"{day}T12:00:00Z", "subscription_id": "sub_1", "customer_id": "cus_1", "amount": 500,
        "currency": "USD", "payload": {"payment_id": f"pay_{event_id}", "invoice_id": "inv_a1"},
    }


def _land(folder: Path, name: str, lines: list, *, age: float = 60.0) -> Path:
    """Write a landed file whose last change is ``age`` seconds ago (the sensor waits for files to settle)."""
    path = folder / name
    path.write_bytes(b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


@pytest.fixture
def instance():
    """A real (temporary, SQLite-backed) Dagster instance: dynamic partitions and runs persist in it."""
    with dg.instance_for_test() as instance:
        yield instance


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    """One sensor evaluation, then what the sensor daemon does with its partition requests."""
    result = landing_folder_sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=ingestion_defs.resources))
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _materialize(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, partition_key: str | None = None,
                 *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [landing_files, outbox_table, asset], instance=instance, partition_key=partition_key,
        resources=ingestion_defs.resources, raise_on_error=raise_on_error,
    )


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {label: value.value for label, value in event.materialization.metadata.items()}


def _key_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT idempotency_key, count(*) FROM ledger.transactions GROUP BY 1").fetchall())


def test_the_sensor_adds_one_partition_per_new_or_changed_file_and_requests_runs_for_new_files_only(ingest_env, instance):
    landing = ingest_env.landing_dir
    a = _land(landing, "a.jsonl", [_invoice("a1", "2024-03-01")])
    (landing / "nested").mkdir()
    b = _land(landing, "nested/b.jsonl", [_invoice("b1", "2024-03-02")])
    _land(landing, "c.jsonl.part", [_invoice("c1", "2024-03-02")])  # still being written under a temporary name
    fresh = _land(landing, "d.jsonl", [_invoice("d1", "2024-03-03")], age=0)  # written just now: not settled yet
    assert SETTLE_SECONDS > 0

    first = _tick(instance, None)
    expected = sorted([partition_key_for("a.jsonl", file_hash(a)), partition_key_for("nested/b.jsonl", file_hash(b))])
    assert sorted(r.partition_key for r in first.run_requests) == expected
    assert all(r.run_key == r.partition_key for r in first.run_requests)  # a re-evaluation never launches a run twice
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == expected

    settled = time.time() - 60
    os.utime(fresh, (settled, settled))
    second = _tick(instance, first.cursor)
    assert [r.partition_key for r in second.run_requests] == [partition_key_for("d.jsonl", file_hash(fresh))]

    third = _tick(instance, second.cursor)
    assert third.run_requests == [] and not third.dynamic_partitions_requests
    assert len(instance.get_dynamic_partitions(PARTITIONS)) == 3

    _land(landing, "a.jsonl", [_invoice("a1", "2024-03-01"), _invoice("a2", "2024-03-04")], age=30)  # changed content
    fourth = _tick(instance, third.cursor)
    changed = partition_key_for("a.jsonl", file_hash(a))
    assert [r.partition_key for r in fourth.run_requests] == [changed]
    assert changed not in expected and changed.startswith("a.jsonl@")
    assert len(instance.get_dynamic_partitions(PARTITIONS)) == 4  # the old version stays re-runnable as its own partition


def test_materialising_landed_file_partitions_posts_every_event_exactly_once_with_batch_metadata(
    ingest_env, ledger_db, instance
):
    landing = ingest_env.landing_dir
    events = [
        _invoice("a1", "2024-03-01"),
        _invoice("a2", "2024-03-02", recorded="2024-03-09"),  # backdated: effective a week before it was recorded
        _payment("a3", "2024-03-03"),  # pending until settled
        b"{not json",
        {**_invoice("a5", "2024-03-04"), "currency": "usd"},
        _invoice("a1", "2024-03-01"),  # the same event again in the same file: a duplicate
    ]
    a = _land(landing, "a.jsonl", events)
    b = _land(landing, "b.jsonl", [_invoice("b1", "2024-03-05"), _invoice("a1", "2024-03-01")])
    keys = sorted(r.partition_key for r in _tick(instance, None).run_requests)
    key_a, key_b = (partition_key_for(p.name, file_hash(p)) for p in (a, b))
    assert keys == sorted([key_a, key_b])

    result = _materialize(instance, posted_batches, key_a)
    assert result.success
    meta = _metadata(result, posted_batches.key)
    assert {k: meta[k] for k in ("events", "posted", "pending", "duplicate", "quarantined", "backdated")} == {
        "events": 6, "posted": 2, "pending": 1, "duplicate": 1, "quarantined": 2, "backdated": 1,
    }
    assert meta["skipped (already ingested)"] is False
    assert (meta["first effective date"], meta["last effective date"], meta["effective dates touched"]) == (
        "2024-03-01", "2024-03-03", 3,
    )
    reasons = meta["quarantine reasons"]
    assert reasons.startswith("| reason code | events |\n|---|---|\n")
    assert "| `malformed_json` | 1 |" in reasons and "| `unknown_currency` | 1 |" in reasons
    assert meta["bytes"] == a.stat().st_size
    assert meta["rows/s"] > 0 and meta["seconds"] > 0

    result_b = _materialize(instance, posted_batches, key_b)
    meta_b = _metadata(result_b, posted_batches.key)
    assert (meta_b["events"], meta_b["posted"], meta_b["duplicate"]) == (2, 1, 1)  # a1 was posted by the first file
    assert meta_b["quarantine reasons"] == "_no event was quarantined_"

    assert _key_counts(ledger_db.dsn) == {"a1": 1, "a2": 1, "a3": 1, "b1": 1}
    with psycopg.connect(ledger_db.dsn) as conn:
        assert conn.execute("SELECT status FROM ledger.transactions WHERE idempotency_key = 'a3'").fetchone() == ("pending",)
        batches = conn.execute("SELECT count(*), sum(events), sum(posted + pending + duplicate + quarantined) FROM ingest.batches").fetchone()
    assert batches == (2, 8, 8)
    assert_consistent(ledger_db.dsn)

    # Re-materialising a partition (a retry, a backfill) posts nothing new and says so.
    before = ledger_snapshot(ledger_db.dsn)
    again = _metadata(_materialize(instance, posted_batches, key_a), posted_batches.key)
    assert again["skipped (already ingested)"] is True
    assert again["batch_id"] == meta["batch_id"] and again["events"] == 6
    assert ledger_snapshot(ledger_db.dsn) == before
    assert len(instance.get_runs()) == 3

    # A partition whose file is gone fails with a message that says what to do.
    b.unlink()
    gone = _materialize(instance, posted_batches, key_b, raise_on_error=False)
    assert not gone.success
    failure = gone.failure_data_for_node("ledger__posted_batches")
    assert failure is not None and "gone from the landing folder" in str(failure.error.message)


def test_a_changed_file_is_a_new_partition_whose_old_events_are_duplicates(ingest_env, ledger_db, instance):
    landing = ingest_env.landing_dir
    _land(landing, "m.jsonl", [_invoice("m1", "2024-04-01")])
    first = _tick(instance, None)
    [old_key] = [r.partition_key for r in first.run_requests]
    assert _materialize(instance, posted_batches, old_key).success
    _land(landing, "m.jsonl", [_invoice("m1", "2024-04-01"), _invoice("m2", "2024-04-02")], age=30)
    [new_key] = [r.partition_key for r in _tick(instance, first.cursor).run_requests]
    assert new_key != old_key
    meta = _metadata(_materialize(instance, posted_batches, new_key), posted_batches.key)
    assert (meta["events"], meta["posted"], meta["duplicate"]) == (2, 1, 1)
    assert _key_counts(ledger_db.dsn) == {"m1": 1, "m2": 1}


OUTBOX_INSERT = (
    "INSERT INTO ingest.outbox (event_id, event_type, effective_at, recorded_at, subscription_id, customer_id, amount, "
    "currency, payload) VALUES (%s, 'invoice.issued', %s, %s, 'sub_o', 'cus_o', %s, %s, %s)"
)


def _outbox_row(event_id: str, day: str, amount: str = "700", currency: str = "EUR", recorded: str | None = None) -> list:
    payload = json.dumps({"invoice_id": f"inv_{event_id}", "plan_id": "pro", "period_start": day, "period_end": day})
    return [event_id, f"{day}T08:00:00Z", f"{recorded or day}T09:00:00Z", amount, currency, payload]


def test_the_outbox_asset_posts_new_rows_once_and_the_sensor_targets_it(ingest_env, ledger_db, instance):
    with psycopg.connect(ledger_db.writer_dsn) as app:  # the application writes with the writer role
        app.execute(OUTBOX_INSERT, _outbox_row("o1", "2024-05-01"))
        app.execute(OUTBOX_INSERT, _outbox_row("o2", "2024-05-02", recorded="2024-05-20"))
        app.execute(OUTBOX_INSERT, _outbox_row("o3", "2024-05-03", amount="1.5"))
    meta = _metadata(_materialize(instance, outbox_batches), outbox_batches.key)
    assert {k: meta[k] for k in ("events", "posted", "pending", "duplicate", "quarantined", "backdated")} == {
        "events": 3, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 1, "backdated": 1,
    }
    assert "| `amount_not_integer` | 1 |" in meta["quarantine reasons"]
    assert (meta["first effective date"], meta["last effective date"]) == ("2024-05-01", "2024-05-02")
    assert meta["source"].startswith("outbox: ")  # claimed like the workers claim (service/queue.py)

    nothing = _metadata(_materialize(instance, outbox_batches), outbox_batches.key)
    assert nothing == {"events": 0}
    with psycopg.connect(ledger_db.writer_dsn) as app:
        app.execute(OUTBOX_INSERT, _outbox_row("o4", "2024-05-04"))
        app.execute(OUTBOX_INSERT, _outbox_row("o1", "2024-05-01"))  # re-sent by the application: a duplicate
    later = _metadata(_materialize(instance, outbox_batches), outbox_batches.key)
    assert (later["events"], later["posted"], later["duplicate"]) == (2, 1, 1)
    assert _key_counts(ledger_db.dsn) == {"o1": 1, "o2": 1, "o4": 1}
    assert_consistent(ledger_db.dsn)

    assert outbox_sensor.job.name == "ingest_outbox"
    assert ingestion_defs.resolve_job_def("ingest_outbox").asset_layer.executable_asset_keys == {outbox_batches.key}
