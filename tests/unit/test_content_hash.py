"""``NewTransaction.content_hash`` is SHA-256 of ``json.dumps(content_document(), sort_keys=True,
default=str)``: the text the idempotency check compares with every hash stored before. The method
spells that text out itself (a leaner single posting, issue 16); these tests hold it to the
definition on any transaction, and to a hash stored by the earlier implementation."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_pipelines.ledger.model import Leg, NewTransaction

# Any text, including quotes, backslashes, controls and non-ASCII (json escapes them all).
TEXT = st.text(min_size=0, max_size=20)
CODE_SEGMENT = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"), blacklist_characters=":"),
                       min_size=1, max_size=12).map(lambda segment: unicodedata.normalize("NFC", segment))
JSON_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


def by_definition(tx: NewTransaction) -> str:
    return hashlib.sha256(json.dumps(tx.content_document(), sort_keys=True, default=str).encode()).hexdigest()


@st.composite
def transactions(draw: st.DrawFn) -> NewTransaction:
    currency = draw(st.sampled_from(["USD", "EUR", "JPY"]))
    amount = draw(st.integers(1, 2**63 - 1))
    accounts = [f"{draw(st.sampled_from(['assets', 'revenue', 'liabilities']))}:{draw(CODE_SEGMENT)}" for _ in range(2)]
    offset = timezone(timedelta(minutes=draw(st.integers(-720, 840))))
    return NewTransaction(
        draw(TEXT.filter(bool)),
        (Leg(accounts[0], "debit", amount, currency), Leg(accounts[1], "credit", amount, currency)),
        draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))).replace(tzinfo=offset),
        status=draw(st.sampled_from(["posted", "pending"])),
        description=draw(st.none() | TEXT),
        reference=draw(st.none() | TEXT),
        metadata=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
        source=draw(st.none() | st.dictionaries(TEXT, JSON_VALUE, max_size=3)),
    )


@settings(max_examples=300, deadline=None)
@given(transactions())
def test_the_content_hash_is_the_hash_of_its_sorted_json_document(tx: NewTransaction) -> None:
    assert tx.content_hash() == by_definition(tx)


def test_a_source_with_values_json_cannot_write_is_hashed_as_their_text() -> None:
    tx = NewTransaction("k", (Leg("assets:cash", "debit", 1, "USD"), Leg("revenue:x", "credit", 1, "USD")),
                        datetime(2026, 1, 1, tzinfo=UTC), source={"at": datetime(2026, 1, 1), "b": {2, 1} - {1}})
    assert tx.content_hash() == by_definition(tx)


def test_a_hash_stored_by_the_earlier_implementation_is_reproduced() -> None:
    """Computed by ``json.dumps`` of the dict (the implementation before the spelled-out text)."""
    tx = NewTransaction(
        "inv-2026-0042:paid",
        (Leg("assets:cash", "debit", 1050, "EUR"), Leg("revenue:subscriptions:pro", "credit", 1050, "EUR")),
        datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        description="Pro plan — März", reference="inv-42", metadata={"plan": "pro", "b": '"quoted"'},
        source={"event": "invoice.paid", "n": 3, "at": datetime(2026, 3, 1)},
    )
    assert tx.content_hash() == "da283673e3203ae267d7676c06f902183d1f65ab4650305c19e3dde3aa5f67fc"
    # The same instant in another zone is the same content.
    assert tx.content_hash() == NewTransaction(tx.idempotency_key, tx.legs, datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
                                               description=tx.description, reference=tx.reference,
                                               metadata=tx.metadata, source=tx.source).content_hash()
