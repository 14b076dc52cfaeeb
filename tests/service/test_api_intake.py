"""Asynchronous intake over real HTTP with a real worker process: accepted, posted once,
idempotent, invalid events quarantined with the contract's codes; keys and scopes."""

from __future__ import annotations

import hashlib
import json

import psycopg

from tests.service.conftest import outcomes, wait_until, waiting_rows


def invoice(event_id: str, amount: object = 700, subscription: str = "sub_1") -> dict:
    return {"event_id": event_id, "event_type": "invoice.issued", "effective_at": "2024-05-01T00:00:00Z",
            "subscription_id": subscription, "customer_id": "cus_1", "amount": amount, "currency": "USD",
            "payload": {"invoice_id": "inv_" + event_id, "plan_id": "pro", "period_start": "2024-05-01",
                        "period_end": "2024-05-31"}}


def test_no_key_no_access_wrong_scope_is_forbidden_and_keys_are_stored_hashed(api, ledger_db):
    for method, path in [("GET", "/v1/balances?account=assets:cash"), ("POST", "/v1/events"), ("GET", "/metrics"),
                         ("GET", "/v1/quarantine"), ("POST", "/v1/transactions"), ("GET", "/v1/events/e1")]:
        response = api.call(method, path, scope=None)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["reason_code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"
    bad = api.call("GET", "/v1/events/e1", scope=None, headers={"Authorization": "Bearer sl_000000000000_" + "x" * 43})
    assert bad.status_code == 401
    assert api.call("POST", "/v1/events", scope="read", json=invoice("e1")).status_code == 403
    assert api.call("GET", "/v1/quarantine", scope="write").status_code == 403
    assert api.call("GET", "/v1/quarantine", scope="admin").status_code == 200
    assert api.call("GET", "/v1/events/nope", scope="read").status_code == 404
    assert api.call("GET", "/healthz", scope=None).status_code == 200
    assert "/v1/transactions" in api.call("GET", "/openapi.json", scope=None).json()["paths"]
    with psycopg.connect(ledger_db.dsn) as conn:
        stored = {row[0]: bytes(row[1]) for row in conn.execute("SELECT scope, key_sha256 FROM service.api_keys")}
        everything = conn.execute("SELECT string_agg(t::text, ' ') FROM service.api_keys t").fetchone()[0]
    assert stored == {scope: hashlib.sha256(key.encode()).digest() for scope, key in api.keys.items()}
    assert not any(key in everything for key in api.keys.values())
    from click.testing import CliRunner

    from ledger_pipelines.cli import main

    created = CliRunner().invoke(main, ["keys", "create", "--scope", "read", "--name", "revoked soon", "--json"])
    assert created.exit_code == 0, created.output
    doomed = json.loads(created.stdout)
    assert CliRunner().invoke(main, ["keys", "revoke", doomed["key_id"]]).exit_code == 0
    assert CliRunner().invoke(main, ["keys", "revoke", doomed["key_id"]]).exit_code == 1  # already revoked
    refused = api.call("GET", "/v1/events/e9", scope=None, headers={"Authorization": f"Bearer {doomed['key']}"})
    assert refused.status_code == 401  # never verified before its revocation: refused at once


def test_events_are_enqueued_idempotently_posted_by_a_worker_and_bad_ones_quarantined(api, ledger_db, workers):
    first = api.call("POST", "/v1/events", scope="write", json=invoice("e1"))
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "accepted" and first.json()["already_enqueued"] is False
    again = api.call("POST", "/v1/events", scope="write", json=invoice("e1"))
    assert again.json() == {**first.json(), "already_enqueued": True}  # the same event again: nothing new enqueued
    assert api.call("GET", "/v1/events/e1", scope="read").json()["status"] == "queued"
    # 1e2 and a repeated key reach the workers exactly as sent (the front end refuses them per event)
    body = ('{"events": [' + ",".join([
        '{"event_id": "e2", "event_type": "invoice.issued", "effective_at": "2024-05-02", "subscription_id": "sub_2", '
        '"customer_id": "c", "amount": 1e2, "currency": "USD", "payload": {"invoice_id": "i2", "plan_id": "pro", '
        '"period_start": "2024-05-01", "period_end": "2024-05-31"}}',
        '{"event_id": "e3", "event_type": "invoice.issued", "amount": 5, "amount": 6}',
        '{"event_id": "e4", "event_type": "invoice.issued", "effective_at": "2024-05-03T00:00:00", "subscription_id": "s",'
        ' "customer_id": "c", "amount": 5, "currency": "USD", "payload": {}}',
    ]) + "]}").encode()
    batch = api.call("POST", "/v1/events/batch", scope="write", content=body, headers={"Content-Type": "application/json"})
    assert batch.status_code == 202, batch.text
    assert [e["event_id"] for e in batch.json()["events"]] == ["e2", "e3", "e4"]
    refused = api.call("POST", "/v1/events/batch", scope="write", json={"events": [invoice("e5"), {"event_type": "x"}]})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"] == [{"index": 1, "event_id": None, "reason_code": "missing_field",
                                                  "message": refused.json()["error"]["details"][0]["message"]}]
    malformed = api.call("POST", "/v1/events", scope="write", content=b'{"event_id": "e6",')
    assert (malformed.status_code, malformed.json()["error"]["reason_code"]) == (400, "malformed_json")
    assert waiting_rows(ledger_db.dsn) == 4  # e5 was not enqueued: the batch was refused whole

    workers(1)
    wait_until(lambda: waiting_rows(ledger_db.dsn) == 0, 90, "the worker to post the outbox")
    assert outcomes(ledger_db.dsn) == {"e1": ["posted"], "e2": ["quarantined:amount_not_integer"],
                                       "e3": ["quarantined:malformed_json"], "e4": ["quarantined:timestamp_without_offset"]}
    status = api.call("GET", "/v1/events/e2", scope="read").json()
    assert (status["status"], status["reason_code"]) == ("quarantined", "amount_not_integer")
    posted = api.call("GET", "/v1/events/e1", scope="read").json()
    assert posted["status"] == "posted" and posted["transaction_id"]
    items = api.call("GET", "/v1/quarantine?reason=amount_not_integer", scope="admin").json()["items"]
    assert [i["event_id"] for i in items] == ["e2"] and '"amount":1e2' in items[0]["raw"]  # kept as sent (compact)
    assert items[0]["source"] == "outbox" and items[0]["line_no"] == batch.json()["events"][0]["outbox_id"]

    # a quarantined event sent again corrected is posted and resolves its quarantine entry
    fixed = invoice("e2", amount=100, subscription="sub_2")
    assert api.call("POST", "/v1/events", scope="write", json=fixed).json()["already_enqueued"] is False
    wait_until(lambda: api.call("GET", "/v1/events/e2", scope="read").json()["status"] == "posted", 60, "e2 posted")
    assert api.call("GET", "/v1/quarantine?event_id=e2", scope="admin").json()["items"] == []

    metrics = api.call("GET", "/metrics", scope="read")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    lines = metrics.text.splitlines()
    assert "subledger_outbox_depth 0.0" in lines
    assert "subledger_workers_connected 1.0" in lines
    assert "subledger_quarantine_open 2.0" in lines
    assert any(line.startswith('subledger_outbox_lag_seconds{quantile="0.95"}') for line in lines)
    assert any(line.startswith('subledger_api_requests_total{method="POST",route="/v1/events",status="202"}') for line in lines)
