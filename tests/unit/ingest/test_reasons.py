"""The reason-code table is complete and matches the documentation."""

from __future__ import annotations

from pathlib import Path

from ledger_pipelines.ingest import reasons as R

REQUIRED = {
    "malformed_json", "malformed_csv_row", "unreadable_file", "event_too_large", "control_characters", "missing_field",
    "invalid_event_id", "unknown_event_type", "invalid_effective_at", "timestamp_without_offset",
    "effective_at_out_of_range", "invalid_recorded_at", "amount_not_integer", "amount_out_of_range", "amount_not_positive",
    "unknown_currency", "invalid_payload", "invalid_metadata", "invalid_account", "unbalanced", "invalid_legs",
    "invalid_condition", "event_id_conflict", "balance_condition_failed", "version_conflict", "invalid_transition",
    "unknown_target", "period_closed", "reference_conflict",
}
DOCS = Path(__file__).resolve().parents[3] / "docs" / "source-events.md"


def test_every_required_code_is_defined_with_meaning_and_fix():
    assert REQUIRED <= set(R.REASONS)
    for reason in R.REASONS.values():
        assert reason.meaning and reason.fix and reason.example, reason.code
        assert reason.stage in {"file", "line", "event", "batch", "ledger"}


def test_database_side_codes_are_marked_as_such():
    assert R.LEDGER_CODES == {"balance_condition_failed", "version_conflict", "invalid_transition", "unknown_target", "period_closed",
                              "reference_conflict"}


def test_documentation_lists_every_code():
    text = DOCS.read_text(encoding="utf-8")
    missing = [code for code in R.REASONS if f"`{code}`" not in text]
    assert not missing, f"docs/source-events.md does not document {missing}"


def test_ledger_uses_the_same_spelling():
    """The database side's reason codes (ledger_pipelines.ledger) are in this table."""
    bulk = Path(__file__).resolve().parents[3] / "ledger_pipelines" / "ledger" / "bulk"
    source = "".join(module.read_text() for module in sorted(bulk.glob("*.py")))
    for code in ("event_id_conflict", "period_closed", "invalid_account", "unknown_target", "invalid_transition",
                 "reference_conflict"):
        assert f'"{code}"' in source and code in R.REASONS
