"""Synchronous postings and reads over real HTTP against real Postgres: typed refusals with the
contract's codes, replays, moves and reversals, balances now / as of / known at, statements with
opening and closing balances across pages, transactions."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def wallet_topup(key: str, amount: int, effective_at: str, wallet: str = "w1", **extra) -> dict:
    return {"idempotency_key": key, "effective_at": effective_at, "description": f"top-up {key}", **extra,
            "legs": [{"account": "assets:cash", "direction": "debit", "amount": amount, "currency": "USD"},
                     {"account": f"liabilities:wallets:{wallet}", "direction": "credit", "amount": amount, "currency": "USD"}]}


def wallet_spend(key: str, amount: int, effective_at: str, *, conditions: dict | None = None,
                 lock_version: int | None = None, status: str = "posted") -> dict:
    guarded: dict = {"account": "liabilities:wallets:w1", "direction": "debit", "amount": amount, "currency": "USD"}
    if conditions is not None:
        guarded["conditions"] = conditions
    if lock_version is not None:
        guarded["lock_version"] = lock_version
    return {"idempotency_key": key, "effective_at": effective_at, "status": status,
            "legs": [guarded, {"account": "revenue:usage", "direction": "credit", "amount": amount, "currency": "USD"}]}


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["reason_code"]


def test_a_posting_answers_the_transaction_and_balances_replays_and_refuses_with_typed_codes(api):
    created = api.call("POST", "/v1/transactions", scope="write", json=wallet_topup("t1", 1000, "2024-05-01T00:00:00Z"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["created"] is True and body["transaction"]["idempotency_key"] == "t1"
    assert body["transaction"]["status"] == "posted" and len(body["transaction"]["legs"]) == 2
    by_account = {b["account"]: b for b in body["balances"]}
    assert by_account["liabilities:wallets:w1"]["posted"] == 1000 and by_account["assets:cash"]["posted"] == 1000
    replay = api.call("POST", "/v1/transactions", scope="write", json=wallet_topup("t1", 1000, "2024-05-01T00:00:00Z"))
    assert replay.status_code == 200 and replay.json()["created"] is False
    assert replay.json()["transaction"]["transaction_id"] == body["transaction"]["transaction_id"]
    assert error(api.call("POST", "/v1/transactions", scope="write",
                          json=wallet_topup("t1", 999, "2024-05-01T00:00:00Z"))) == (409, "event_id_conflict")

    guard = {"available": {"gte": 0}}
    refused = api.call("POST", "/v1/transactions", scope="write", json=wallet_spend("s1", 1500, "2024-05-02T00:00:00Z",
                                                                                    conditions=guard))
    assert error(refused) == (422, "balance_condition_failed")
    assert refused.json()["error"]["details"][0]["account"] == "liabilities:wallets:w1"
    lock = api.call("GET", "/v1/accounts/liabilities:wallets:w1/balances", scope="read").json()[0]["lock_version"]
    assert error(api.call("POST", "/v1/transactions", scope="write",
                          json=wallet_spend("s2", 100, "2024-05-02T00:00:00Z", lock_version=lock + 7))) == (409, "version_conflict")
    spent = api.call("POST", "/v1/transactions", scope="write",
                     json=wallet_spend("s3", 400, "2024-05-02T00:00:00Z", conditions=guard, lock_version=lock))
    assert spent.status_code == 201, spent.text
    assert {b["account"]: b["posted"] for b in spent.json()["balances"]}["liabilities:wallets:w1"] == 600

    bad_amount = wallet_topup("t2", 1, "2024-05-01T00:00:00Z")
    bad_amount["legs"][0]["amount"] = 12.5
    cases = [
        (bad_amount, (422, "amount_not_integer")),
        ({**wallet_topup("t3", 5, "2024-05-01T00:00:00")}, (422, "timestamp_without_offset")),
        ({**wallet_topup("t4", 5, "2024-05-01T00:00:00Z"), "legs": wallet_topup("x", 5, "2024-05-01")["legs"][:1]},
         (422, "invalid_legs")),
        ({"idempotency_key": "t5", "effective_at": "2024-05-01T00:00:00Z",
          "legs": [{"account": "assets:cash", "direction": "debit", "amount": 5, "currency": "USD"},
                   {"account": "revenue:usage", "direction": "credit", "amount": 4, "currency": "USD"}]}, (422, "unbalanced")),
        ({**wallet_topup("t6", 5, "2024-05-01T00:00:00Z"), "surprise": 1}, (422, "invalid_payload")),
        ({"effective_at": "2024-05-01T00:00:00Z", "legs": []}, (422, "missing_field")),
    ]
    for document, expected in cases:
        assert error(api.call("POST", "/v1/transactions", scope="write", json=document)) == expected, document
    unit = wallet_topup("t7", 5, "2024-05-01T00:00:00Z")
    unit["legs"][0]["currency"] = unit["legs"][1]["currency"] = "XYZ"
    assert error(api.call("POST", "/v1/transactions", scope="write", json=unit)) == (422, "unknown_currency")
    malformed = api.call("POST", "/v1/transactions", scope="write", content=b'{"idempotency_key": "a", "idempotency_key": "b"}')
    assert error(malformed) == (400, "malformed_json")
    assert error(api.call("POST", "/v1/transactions", scope="read", json=wallet_topup("t8", 5, "2024-05-01"))) == (403, "forbidden")


def test_pending_moves_reversals_and_transaction_reads(api):
    held = api.call("POST", "/v1/transactions", scope="write",
                    json=wallet_spend("p1", 300, "2024-05-03T00:00:00Z", status="pending") | {"legs": [
                        {"account": "assets:cash", "direction": "debit", "amount": 300, "currency": "USD"},
                        {"account": "liabilities:wallets:w2", "direction": "credit", "amount": 300, "currency": "USD"}]})
    assert held.status_code == 201 and held.json()["transaction"]["status"] == "pending"
    wallet = {b["account"]: b for b in held.json()["balances"]}["liabilities:wallets:w2"]
    assert (wallet["posted"], wallet["pending"]) == (0, 300)
    posted = api.call("POST", "/v1/transactions/p1/post", scope="write", json={"transition_key": "settle-p1"})
    assert posted.status_code == 201, posted.text
    assert posted.json()["transaction"]["status"] == "posted"
    again = api.call("POST", "/v1/transactions/p1/post", scope="write", json={"transition_key": "settle-p1"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert error(api.call("POST", "/v1/transactions/p1/archive", scope="write")) == (409, "invalid_transition")
    assert error(api.call("POST", "/v1/transactions/nope/post", scope="write")) == (404, "unknown_target")

    reversed_ = api.call("POST", "/v1/transactions/p1/reverse", scope="write", json={"idempotency_key": "p1-rev", "reason": "refund"})
    assert reversed_.status_code == 201, reversed_.text
    reversal = reversed_.json()["transaction"]
    assert reversal["reverses_transaction_id"] == held.json()["transaction"]["transaction_id"]
    assert {b["account"]: b["posted"] for b in reversed_.json()["balances"]}["liabilities:wallets:w2"] == 0
    original = api.call("GET", "/v1/transactions/p1", scope="read").json()
    assert original["reversed_by"] == reversal["transaction_id"]
    by_id = api.call("GET", f"/v1/transactions/{reversal['transaction_id']}", scope="read").json()
    assert by_id["idempotency_key"] == "p1-rev"
    assert sorted((leg["account"], leg["direction"], leg["amount"]) for leg in by_id["legs"]) == [
        ("assets:cash", "credit", 300), ("liabilities:wallets:w2", "debit", 300)]
    assert error(api.call("GET", "/v1/transactions/missing", scope="read")) == (404, "unknown_target")


def test_balances_now_as_of_known_at_and_statements_paginate_with_opening_and_closing(api):
    for n, day in enumerate(["2024-05-01", "2024-05-02", "2024-05-02", "2024-05-03", "2024-05-04"], start=1):
        response = api.call("POST", "/v1/transactions", scope="write", json=wallet_topup(f"t{n}", 100 * n, f"{day}T12:00:00Z"))
        assert response.status_code == 201, response.text
    time.sleep(0.05)
    known = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    late = api.call("POST", "/v1/transactions", scope="write", json=wallet_topup("late", 7, "2024-05-01T13:00:00Z"))
    assert late.status_code == 201

    def posted(**params) -> int:
        response = api.call("GET", "/v1/balances", scope="read", params={"account": "liabilities:wallets:w1", **params})
        assert response.status_code == 200, response.text
        (row,) = response.json()
        return row["posted"]

    assert posted() == 1507
    assert posted(as_of="2024-05-02") == 100 + 200 + 300 + 7  # a date is the end of that day
    assert posted(as_of="2024-05-02", known_at=known) == 600  # the late entry was not known yet
    assert posted(known_at=known) == 1500
    both = api.call("GET", "/v1/balances", scope="read", params=[("account", "assets:cash"), ("account", "liabilities:wallets:w1")])
    assert sorted(b["account"] for b in both.json()) == ["assets:cash", "liabilities:wallets:w1"]
    assert error(api.call("GET", "/v1/balances", scope="read", params={"account": "assets:cash", "as_of": "soon"})) == (
        422, "invalid_parameter")
    assert error(api.call("GET", "/v1/balances", scope="read")) == (422, "invalid_parameter")
    assert error(api.call("GET", "/v1/accounts/assets:nothing/balances", scope="read")) == (404, "unknown_account")

    path = "/v1/accounts/liabilities:wallets:w1/statement"
    pages, cursor = [], None
    while True:
        params = {"from": "2024-05-02", "to": "2024-05-03", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", path, scope="read", params=params)
        assert page.status_code == 200, page.text
        pages.append(page.json())
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert {(p["opening_balance"], p["closing_balance"]) for p in pages} == {(107, 1007)}  # t1 + late, then + t2..t4
    lines = [e for p in pages for e in p["entries"]]
    assert [e["idempotency_key"] for e in lines] == ["t2", "t3", "t4"]
    assert [e["running_balance"] for e in lines] == [307, 607, 1007]  # across pages: each page starts where the last ended
    whole = api.call("GET", path, scope="read").json()
    assert whole["opening_balance"] == 0 and whole["closing_balance"] == 1507
    assert whole["entries"][-1]["running_balance"] == 1507 and len(whole["entries"]) == 6
    assert error(api.call("GET", path, scope="read", params={"cursor": "garbage"})) == (422, "invalid_cursor")
    assert error(api.call("GET", "/v1/accounts/assets:nothing/statement", scope="read")) == (404, "unknown_account")
