-- ledger.account_id_of(code): an account's id, the first 128 bits of SHA-256 of the code's UTF-8
-- bytes as a UUID (I6: accounts_valid_on_insert requires account_id = account_id_of(code)). The
-- writers compute the same in Python (ledger_pipelines.ledger.ids.account_id, account_id_column),
-- so no round trip is needed to name an account; tests/ledger/test_rule_pairs.py checks they agree.
CREATE OR REPLACE FUNCTION ledger.account_id_of(code text) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN substr(encode(sha256(convert_to(code, 'UTF8')), 'hex'), 1, 32)::uuid;

REVOKE ALL ON FUNCTION ledger.account_id_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.account_id_of(text) TO subledger_writer, subledger_reader;
