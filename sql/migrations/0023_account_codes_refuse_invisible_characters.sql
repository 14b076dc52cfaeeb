-- depends: 0022_set_based_reference_checks
--
-- The database's own account-code rule refused only control characters; the writers (Python)
-- refuse every invisible format character too (Unicode category Cf: zero-width space and joiners,
-- soft hyphen, byte-order mark, bidirectional marks/overrides/isolates, ...), private use and the
-- line/paragraph separators, because they make one code display as another
-- ('assets:cash' and 'assets:ca<U+200B>sh'). The database now refuses them as well, so a raw INSERT
-- cannot create such a twin. Existing rows are not touched (they were checked when created).
-- Postgres regular expressions have no Unicode classes: the Cf code points of Unicode 15 are listed.
CREATE OR REPLACE FUNCTION ledger.is_valid_account_code(code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN code !~ '[[:cntrl:]]'
       AND code !~ '[\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F\u2028\u2029\uE000-\uF8FF\U000F0000-\U0010FFFF]'
       AND cardinality(string_to_array(code, ':')) BETWEEN 1 AND 32
       AND (SELECT bool_and(length(segment) BETWEEN 1 AND 64) FROM unnest(string_to_array(code, ':')) AS segment);
