-- ledger.refuse_broken_row(table, problem, row): raises check_violation (SQLSTATE 23514) for a
-- row of ledger.<table> that breaks a row rule; problem is what ledger.transaction_row_problem or
-- ledger.entry_row_problem said ('rule: what it says'), row names the row. The error carries the
-- rule as its constraint name, so it reads as the CHECK that rule was until migration 0015.
CREATE OR REPLACE FUNCTION ledger.refuse_broken_row(p_table text, p_problem text, p_row text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'check_violation', SCHEMA = 'ledger', TABLE = p_table, CONSTRAINT = split_part(p_problem, ':', 1),
        MESSAGE = format('new row for relation "%s" violates check constraint "%s" (%s): %s', p_table,
                         split_part(p_problem, ':', 1), p_row, ltrim(substr(p_problem, strpos(p_problem, ':') + 1))),
        HINT = 'Every row keeps its table''s row rules (docs/invariants.md); correct the row and insert it again.';
END
$$;

REVOKE ALL ON FUNCTION ledger.refuse_broken_row(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.refuse_broken_row(text, text, text) TO subledger_writer, subledger_reader;
