"""ledger.post_transaction and its kin: one call per posting, every guarantee kept.

Raw SQL as each role (no Python API) for what the database promises; ``Ledger`` for the typed
errors the client maps SQLSTATEs onto.
"""

from __future__ import annotations

import uuid

import pytest

from tests.ledger.helpers_sql import T0, attempt, connect, create_accounts, scalar


@pytest.fixture
def db(ledger_db):
    create_accounts(ledger_db.writer_dsn)
    return ledger_db


POST = ("SELECT * FROM ledger.post_transaction(%(id)s, %(key)s, %(status)s, %(at)s, %(hash)s, %(accounts)s, "
        "%(directions)s, %(amounts)s, %(currencies)s)")


def post_params(key: str, amount: int = 100, status: str = "posted", **overrides) -> dict:
    params = {"id": str(uuid.uuid4()), "key": key, "status": status, "at": T0, "hash": "h-" + key,
              "accounts": ["assets:cash", "equity:capital"], "directions": ["debit", "credit"],
              "amounts": [amount, amount], "currencies": ["USD", "USD"]}
    params.update(overrides)
    return params


def test_smoke(db):
    with connect(db.writer_dsn) as conn:
        row = conn.execute(POST, post_params("k1")).fetchone()
        print(row)
        assert row[2] is True
        assert conn.execute("SELECT current_setting('subledger.posting_call', true)").fetchone()[0] in (None, "")
        row2 = conn.execute(POST, post_params("k1")).fetchone()
        print(row2)
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.entries") == 2
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.commit_checks") == 0
