"""Posting rules: the built-ins match the contract, user files merge over them, bad rules fail loudly."""

from __future__ import annotations

import textwrap

import pytest

from ledger_pipelines.ingest.prepare import prepare_batch
from ledger_pipelines.ingest.rules import RuleError, load_rule_files, load_rules

from .helpers import NOW, invoice, settings, write

CONTRACT_TYPES = {
    "journal.posted", "transaction.posted", "transaction.archived", "transaction.reversed", "invoice.issued",
    "payment.initiated", "payment.settled", "payment.failed", "refund.issued", "credit.granted", "credit.applied",
    "usage.recorded", "usage.corrected",
}


def _accounts(rule):
    return [(leg.direction, leg.account.source) for leg in rule.posting.legs]


def test_builtin_rules_cover_the_contract_with_its_accounts():
    rules = load_rules(environ={})
    assert set(rules.rules) == CONTRACT_TYPES
    assert _accounts(rules.get("invoice.issued")) == [("debit", "assets:receivables:{subscription_id}"),
                                                      ("credit", "revenue:subscriptions:{payload.plan_id}")]
    assert _accounts(rules.get("payment.initiated")) == [("debit", "assets:cash:in_transit"),
                                                         ("credit", "assets:receivables:{subscription_id}")]
    assert rules.get("payment.initiated").posting.status == "pending"
    assert _accounts(rules.get("refund.issued")) == [("debit", "revenue:refunds"), ("credit", "assets:cash")]
    assert _accounts(rules.get("credit.granted")) == [("debit", "expenses:promotional_credits"),
                                                      ("credit", "liabilities:customer_credits:{subscription_id}")]
    applied = rules.get("credit.applied").posting.legs
    assert [(c.balance, c.op, c.amount) for c in applied[0].conditions] == [("available", "gte", 0)]
    assert applied[0].account.source == "liabilities:customer_credits:{subscription_id}"
    usage = rules.get("usage.recorded").posting
    assert usage.amount.source == "{payload.quantity} * {payload.unit_amount}"
    assert _accounts(rules.get("usage.recorded"))[1] == ("credit", "revenue:usage:{payload.metric}")
    assert rules.get("payment.settled").to_status == "posted" and rules.get("payment.failed").to_status == "archived"
    assert rules.get("usage.corrected").target_reference.source == "usage:{payload.usage_id}"
    assert rules.account_types["income"] == "credit" and rules.account_types["expenses"] == "debit"


def _write(tmp_path, text, name="rules.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_user_file_adds_changes_and_removes_types(tmp_path):
    path = _write(tmp_path, """\
        account_types:
          contra: debit
        event_types:
          refund.issued: null
          discount.granted:
            action: post
            requires: [subscription_id]
            payload:
              discount_id: string
            reference: "discount:{payload.discount_id}"
            legs:
              - {direction: debit, account: "expenses:discounts:{subscription_id}"}
              - {direction: credit, account: "assets:receivables:{subscription_id}"}
        """)
    rules = load_rules(path)
    assert "refund.issued" not in rules and "discount.granted" in rules
    assert rules.account_types["contra"] == "debit" and "invoice.issued" in rules


def test_rules_path_from_the_environment(tmp_path):
    path = _write(tmp_path, "event_types:\n  invoice.issued: null\n")
    assert "invoice.issued" not in load_rules(environ={"SUBLEDGER_RULES_PATH": str(path)})
    assert "invoice.issued" in load_rules(environ={})


def test_a_folder_of_rule_files(tmp_path):
    _write(tmp_path, "event_types:\n  invoice.issued: null\n", "a.yaml")
    _write(tmp_path, "event_types:\n  refund.issued: null\n", "b.yml")
    rules = load_rules(tmp_path)
    assert "invoice.issued" not in rules and "refund.issued" not in rules


def test_a_user_event_type_posts_without_code_changes(tmp_path):
    rules_path = _write(tmp_path, """\
        event_types:
          discount.granted:
            action: post
            requires: [subscription_id, customer_id]
            payload:
              discount_id: string
              percent: {type: integer, min: 1}
            amount: "{amount}"
            reference: "discount:{payload.discount_id}"
            description: "{payload.percent}% discount {payload.discount_id}"
            legs:
              - {direction: debit, account: "expenses:discounts:{subscription_id}"}
              - {direction: credit, account: "assets:receivables:{subscription_id}"}
        """)
    event = invoice("d1", event_type="discount.granted", amount=500, payload={"discount_id": "dsc_9", "percent": "15"})
    batch = prepare_batch([write(tmp_path, [event], "jsonl")], load_rules(rules_path), settings(tmp_path), now=NOW)
    assert batch.rejects.is_empty()
    posting = batch.plan.postings.row(0, named=True)
    assert posting["reference"] == "discount:dsc_9" and posting["description"] == "15% discount dsc_9"
    assert batch.plan.legs.select("account", "direction", "amount").rows() == [
        ("expenses:discounts:sub_1", "debit", 500), ("assets:receivables:sub_1", "credit", 500)]
    missing = invoice("d2", event_type="discount.granted", payload={"percent": 5})
    batch = prepare_batch([write(tmp_path / "m", [missing], "jsonl")], load_rules(rules_path), settings(tmp_path), now=NOW)
    assert batch.rejects["reason_code"].to_list() == ["missing_field"]
    assert "payload.discount_id" in batch.rejects["message"][0]


@pytest.mark.parametrize("body, problem, line", [
    ("""\
     event_types:
       x.y:
         action: post
         legs:
           - {direction: debit, account: "assets:{payload.nope}"}
           - {direction: credit, account: "revenue:x"}
     """, "unknown placeholder {payload.nope}", 5),
    ("""\
     event_types:
       x.y:
         action: post
         reference: "ref:{subscriptionid}"
         legs:
           - {direction: debit, account: "assets:x"}
           - {direction: credit, account: "revenue:x"}
     """, "unknown placeholder {subscriptionid}", 4),
    ("""\
     event_types:
       x.y:
         action: post
         legs:
           - {direction: debit, account: "assets:x"}
           - {direction: debit, account: "assets:y"}
           - {direction: credit, account: "revenue:x"}
     """, "do not balance", 4),
    ("""\
     event_types:
       x.y:
         action: teleport
     """, "unknown action 'teleport'", 3),
    ("""\
     event_types:
       x.y:
         action: post
         colour: blue
         legs: []
     """, "unknown key 'colour'", 4),
    ("""\
     event_types:
       x.y:
         action: post
         legs:
           - {direction: debit, account: "cash:{subscription_id}"}
           - {direction: credit, account: "revenue:x"}
     """, "not an account type", 5),
    ("""\
     event_types:
       x.y:
         action: post
         payload:
           note: string?
         legs:
           - {direction: debit, account: "assets:{payload.note}"}
           - {direction: credit, account: "revenue:x"}
     """, "optional payload field", 7),
    ("""\
     event_types:
       x.y:
         action: post
         payload:
           code: string
         amount: "{payload.code} * 2"
         legs:
           - {direction: debit, account: "assets:x"}
           - {direction: credit, account: "revenue:x"}
     """, "integer payload field", 6),
    ("""\
     event_types:
       x.y:
         action: transition
         to: posted
     """, "exactly one of 'target_event_id' or 'target_reference'", 2),
    ("""\
     event_types:
       x.y:
         action: post
         legs:
           - {direction: debit, account: "assets:x", conditions: {available: {">=": 0}}}
           - {direction: credit, account: "revenue:x"}
     """, "condition available.>=", 5),
    ("""\
     event_types:
       x.y: {action: post}
       x.y: {action: post}
     """, "appears twice", 3),
])
def test_invalid_rules_name_the_rule_and_line(tmp_path, body, problem, line):
    path = _write(tmp_path, body)
    with pytest.raises(RuleError) as error:
        load_rules(path)
    message = str(error.value)
    assert problem in message
    assert f"{path}:{line}:" in message
    if "appears twice" not in problem:
        assert "rule 'x.y'" in message


def test_not_yaml(tmp_path):
    path = _write(tmp_path, "event_types: [unclosed\n")
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rule_files([path])


def test_missing_rules_path(tmp_path):
    with pytest.raises(RuleError, match="does not exist"):
        load_rules(tmp_path / "nope.yaml")
