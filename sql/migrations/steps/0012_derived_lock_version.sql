-- Migration 0012's step (sql/migrations/0012_derived_lock_version.py says what and why), run after
-- functions/ledger.lock_version.sql: the stored counter against the derived value, then the
-- counter dropped.

DO $$
DECLARE
    differing text;
    underivable text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_schema = 'ledger' AND table_name = 'accounts' AND column_name = 'lock_version') THEN
        RETURN;
    END IF;
    CREATE TEMP TABLE lock_version_check ON COMMIT DROP AS
    SELECT a.account_id, a.code, a.lock_version AS stored, ledger.lock_version(a.account_id) AS derived,
           (SELECT min(b.currency) FROM ledger.balances b WHERE b.account_id = a.account_id) AS first_currency
      FROM ledger.accounts a;

    SELECT string_agg(format('%s (stored %s)', code, stored), ', ' ORDER BY code) INTO underivable
      FROM lock_version_check WHERE first_currency IS NULL AND stored > 0;
    IF underivable IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = format('lock_version cannot be derived for accounts with a version but no balance row: %s', underivable),
            HINT = 'Their balances were deleted by hand: restore ledger.balances from the entries (warehouse check cache_drift), then upgrade again.';
    END IF;

    SELECT string_agg(format('%s (stored %s, derived %s)', code, stored, derived), ', ' ORDER BY code) INTO differing
      FROM lock_version_check WHERE stored <> derived;
    IF differing IS NOT NULL THEN
        RAISE NOTICE 'migration 0012: accounts whose derived lock_version differs from the stored one: %', differing;
        UPDATE ledger.balances b SET version = b.version + (c.stored - c.derived)
          FROM lock_version_check c
         WHERE b.account_id = c.account_id AND b.currency = c.first_currency AND c.derived < c.stored;
    END IF;
END
$$;

DROP TRIGGER IF EXISTS accounts_audit_metadata ON ledger.accounts;
ALTER TABLE ledger.accounts DROP COLUMN IF EXISTS lock_version;
COMMENT ON COLUMN ledger.balances.version IS
    'Grows by one for every entry posted to this balance and every entry of it a lifecycle move carries; the sum over an account''s balances is its lock_version (ledger.lock_version).';
DROP FUNCTION IF EXISTS ledger.lock_balances(uuid[], text[]);
