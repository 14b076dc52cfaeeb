-- ledger.entry_state(status, posted_at, archived_at, instant): the state at `instant` of an entry of a
-- transaction that is `status` now (docs/architecture.md, "Balance definitions"): 'posted' if it
-- was posted by then, 'archived' if it was archived by then (it counts nowhere), else 'pending'.
-- Whether the entry counts at all (effective_at <= instant, the transaction known) and what the caller
-- knows of the move (pass 'pending' for a move it does not see: made after its snapshot, or
-- recorded after its known-at) stay with the caller. The one Postgres definition of the rule (R4):
-- balances_as_of.sql, balance_at.sql, ledger.recompute_anchors and ledger.expected_anchors call
-- it; the DuckDB one is the macro entry_state (sql/warehouse/macros.sql), proved equal on random
-- instants by tests/ledger/test_rule_pairs.py. No Python code needs the rule.
CREATE OR REPLACE FUNCTION ledger.entry_state(status text, posted_at timestamptz, archived_at timestamptz, instant timestamptz)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN status = 'posted' AND posted_at <= instant THEN 'posted'
                WHEN status = 'archived' AND archived_at <= instant THEN 'archived'
                ELSE 'pending' END;

REVOKE ALL ON FUNCTION ledger.entry_state(text, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.entry_state(text, timestamptz, timestamptz, timestamptz) TO subledger_writer, subledger_reader;
