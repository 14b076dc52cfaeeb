-- depends: 0011_move_outcomes
--
-- An account's lock_version is derived from its balances (functions/ledger.lock_version.sql: the
-- sum of their versions, which grow by one per entry posted and per entry a move carries -- the
-- same count accounts.lock_version kept), so a posting no longer writes its accounts' rows. Here:
--   1. the derived value is compared with the stored counter for every account. Where it is lower
--      (a balance edited by hand), the account's first balance row (by currency) grows by the
--      difference, so that no version a client holds comes back later and lets a stale write
--      through; where it is higher, it stays (a client holding the old value is refused once and
--      re-reads, as after any posting). Both are listed in a NOTICE (account, stored, derived). An
--      account with a stored version but no balance row cannot be derived: the upgrade stops and
--      names it.
--   2. the counter is dropped rather than left unmaintained: a column nobody updates would keep
--      answering with a stale version to anyone who still reads it. (The trigger whose WHEN clause
--      read it goes with it; its function file makes it again without.)
--   3. ledger.lock_balances gains the accounts whose every balance row it locks (a lock_version
--      check): the two-argument version goes; the three-argument one is its function file.
-- The guard that lock_version only grows (LDG03) now holds on the balances: a version only grows
-- (functions/ledger.balances_after_update.sql) and a row is never deleted (ledger.reject_change).

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
    SELECT a.account_id, a.code, a.lock_version AS stored, coalesce(sum(b.version), 0)::bigint AS derived,
           count(b.account_id) AS balance_rows, min(b.currency) AS first_currency
      FROM ledger.accounts a LEFT JOIN ledger.balances b ON b.account_id = a.account_id
     GROUP BY a.account_id, a.code, a.lock_version;

    SELECT string_agg(format('%s (stored %s)', code, stored), ', ' ORDER BY code) INTO underivable
      FROM lock_version_check WHERE balance_rows = 0 AND stored > 0;
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
