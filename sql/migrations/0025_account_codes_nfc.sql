-- depends: 0024_posted_at_and_account_types_on_insert
--
-- Account codes must be in Unicode NFC (contract ruling, December 2026): 'café' written as 'e' plus a
-- combining acute accent displays exactly like 'café' with the precomposed letter, so the two must
-- not be two accounts. The writers (ledger_pipelines/ledger/accounts.py, the one Python definition)
-- refuse such codes as invalid_account; the database now refuses them too, so a raw INSERT cannot
-- create the twin. Account types are one lower-case segment ('Equity:x' is refused, not folded).
-- Existing rows are not touched (the constraint on account_types is NOT VALID: it holds for new
-- rows). IS NFC NORMALIZED needs a UTF8 database, which the ledger's is (initdb --encoding=UTF8).
CREATE OR REPLACE FUNCTION ledger.is_valid_account_code(code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN code IS NFC NORMALIZED
       AND code !~ '[[:cntrl:]]'
       AND code !~ '[\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F\u2028\u2029\uE000-\uF8FF\U000F0000-\U0010FFFF]'
       AND cardinality(string_to_array(code, ':')) BETWEEN 1 AND 32
       AND (SELECT bool_and(length(segment) BETWEEN 1 AND 64) FROM unnest(string_to_array(code, ':')) AS segment);

ALTER TABLE ledger.account_types
    ADD CONSTRAINT account_types_are_lower_case CHECK (top_segment = lower(top_segment) AND ledger.is_valid_account_code(top_segment)
                                                      AND position(':' IN top_segment) = 0) NOT VALID;
