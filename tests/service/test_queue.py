"""The outbox queue in process: lanes keep per-key order under concurrent consumers, suspects are
bisected, poison is quarantined without blocking its lane, processed rows are pruned."""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg
import pytest

from ledger_pipelines.ingest.ingestor import ingestor
from ledger_pipelines.service import queue
from ledger_pipelines.service.queue import ClaimFailed, Consumer, claim, drain, merge_reports, prune, queue_stats
from ledger_pipelines.service.settings import ServiceSettings
from tests.service.conftest import credit_events, insert_envelopes, outcomes, wait_until


def test_events_of_one_subscription_share_a_lane_and_a_lifecycle_event_follows_its_target(service_env, ledger_db):
    journal = {"event_id": "j1", "event_type": "journal.posted", "effective_at": "2024-05-01",
               "payload": {"status": "pending", "legs": [
                   {"account": "assets:cash", "direction": "debit", "amount": 5, "currency": "USD"},
                   {"account": "liabilities:wallets:w1", "direction": "credit", "amount": 5, "currency": "USD",
                    "conditions": {"available": {"gte": 0}}}]}}
    settle = {"event_id": "j1-post", "event_type": "transaction.posted", "effective_at": "2024-05-02",
              "payload": {"target_event_id": "j1"}}
    insert_envelopes(ledger_db.writer_dsn, [*credit_events("s1", 10, 5), journal, settle])
    with psycopg.connect(ledger_db.dsn) as conn:
        keys = dict(conn.execute("SELECT event_id, order_key FROM ingest.outbox").fetchall())
    assert keys == {"s1-grant": "subscription:s1", "s1-apply": "subscription:s1",
                    "j1": "account:liabilities:wallets:w1", "j1-post": "account:liabilities:wallets:w1"}


def test_a_lane_held_by_one_consumer_is_skipped_by_another(service_env, ledger_db):
    insert_envelopes(ledger_db.writer_dsn, credit_events("s1", 10, 5) + credit_events("s2", 10, 5))
    with psycopg.connect(ledger_db.writer_dsn, autocommit=True) as a, psycopg.connect(ledger_db.writer_dsn, autocommit=True) as b:
        first = claim(a, 1)
        assert [r.event_id for r in first.rows] == ["s1-grant"]
        second = claim(b, 10)
        assert {r.event_id for r in second.rows} == {"s2-grant", "s2-apply"}  # s1's lane is a's until a claims again
        unfinished = claim(b, 10)  # b did not finish them: they come back as suspects, a quarter of 2 = 1 at a time
        assert [(r.event_id, r.tries) for r in unfinished.rows] == [("s2-grant", 2)]
        a_pid = a.info.backend_pid
        a.close()  # a killed consumer: its lane is free once its session ends, its row a suspect
        wait_until(lambda: b.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [a_pid]).fetchone()[0] == 0,
                   30, "the closed consumer's session to end")
        again = claim(b, 10)
        assert [(r.event_id, r.tries) for r in again.rows] == [("s1-grant", 2)]  # alone: a suspect


def test_concurrent_consumers_keep_each_subscriptions_order(service_env, ledger_db):
    """Each grant must post before its application (else balance_condition_failed): 4 consumers
    claiming 3 rows at a time race over 60 subscriptions."""
    events = [e for n in range(60) for e in credit_events(f"s{n}", 100, 100)]
    insert_envelopes(ledger_db.writer_dsn, events)
    service = ServiceSettings(batch_size=3)
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with ingestor(service_env) as ing:
                consumer = Consumer(ing, service)
                while consumer.step() is not None:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert merge_reports(drain(service_env)) is None  # nothing left
    found = outcomes(ledger_db.dsn)
    assert found == {e["event_id"]: ["posted"] for e in events}
    with psycopg.connect(ledger_db.dsn) as conn:
        batches = conn.execute("SELECT count(*) FROM ingest.batches WHERE source_kind = 'outbox'").fetchone()[0]
    assert batches >= 40  # many small claims, not one consumer doing it all


def test_a_poison_event_is_quarantined_after_its_tries_and_its_lane_goes_on(service_env, ledger_db, monkeypatch):
    real = queue.write_batch

    def fails_on_poison(conn, prepared, **kwargs):
        if "poison" in prepared.events["event_id"].to_list():
            raise RuntimeError("simulated bug while posting")
        return real(conn, prepared, **kwargs)

    monkeypatch.setattr(queue, "write_batch", fails_on_poison)
    events = credit_events("s1", 100, 40)
    poison = {**events[1], "event_id": "poison", "payload": {"credit_id": "cr_s1", "invoice_id": "inv_p"}}
    after = {**events[1], "event_id": "after", "payload": {"credit_id": "cr_s1", "invoice_id": "inv_a"}}
    others = credit_events("s2", 10, 5)
    ids = insert_envelopes(ledger_db.writer_dsn, [events[0], events[1], poison, after, *others])
    service = ServiceSettings(batch_size=100, max_tries=2)
    failures = 0
    with ingestor(service_env) as ing:
        consumer = Consumer(ing, service)
        with psycopg.connect(ledger_db.dsn, autocommit=True) as owner:
            while True:
                owner.execute("UPDATE ingest.outbox SET available_at = now() - interval '1 second'")  # no waiting out the backoff here
                try:
                    if consumer.step() is None:
                        break
                except ClaimFailed:
                    failures += 1
    found = outcomes(ledger_db.dsn)
    assert found["poison"] == ["quarantined:unreadable_file"]
    assert {k: v for k, v in found.items() if k != "poison"} == {
        "s1-grant": ["posted"], "s1-apply": ["posted"], "after": ["posted"], "s2-grant": ["posted"], "s2-apply": ["posted"]}
    assert failures == 1 + 2  # the claim of all 6 rows, then (suspects, a quarter of 6 = 1 at a time) 2 tries alone
    with psycopg.connect(ledger_db.dsn) as conn:
        line_no, message, raw = conn.execute(
            "SELECT line_no, message, convert_from(raw, 'UTF8') FROM ingest.quarantine WHERE event_id = 'poison'").fetchone()
    assert line_no == ids[2]
    assert "failed 2 times on its own" in message and "simulated bug while posting" in message
    assert '"event_id": "poison"' in raw


def test_processed_rows_are_pruned_after_the_retention_and_stats_show_the_queue(service_env, ledger_db):
    insert_envelopes(ledger_db.writer_dsn, credit_events("s1", 10, 5))
    with psycopg.connect(ledger_db.reader_dsn, autocommit=True) as reader:
        stats = queue_stats(reader)
        assert (stats.depth, stats.processed_recently) == (2, 0) and stats.oldest_age_seconds >= 0
        assert len(drain(service_env)) == 1
        stats = queue_stats(reader)
        assert (stats.depth, stats.oldest_age_seconds, stats.processed_recently) == (0, 0.0, 2)
    with psycopg.connect(ledger_db.writer_dsn, autocommit=True) as writer:
        assert prune(writer, retention_hours=1) == 0  # too young
        with psycopg.connect(ledger_db.dsn, autocommit=True) as owner:
            owner.execute("UPDATE ingest.outbox SET processed_at = processed_at - interval '2 hours'")
        assert prune(writer, retention_hours=1) == 2
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("DELETE FROM ingest.outbox")  # only through ingest.prune_outbox: processed rows only
    assert outcomes(ledger_db.dsn) == {"s1-grant": ["posted"], "s1-apply": ["posted"]}  # the ledger keeps them


def test_a_drain_and_the_workers_settings_are_validated(service_env, monkeypatch):
    from ledger_pipelines.config import ConfigError
    from ledger_pipelines.service.settings import load_service_settings

    monkeypatch.setenv("SUBLEDGER_QUEUE_BATCH", "0")
    with pytest.raises(ConfigError, match="SUBLEDGER_QUEUE_BATCH='0' must be a whole number of at least 1"):
        load_service_settings(service_env)
    monkeypatch.setenv("SUBLEDGER_QUEUE_BATCH", "250")
    assert load_service_settings(service_env) == replace(ServiceSettings(), batch_size=250)
