-- Lock (account, currency) balances in the global order, and every balance of the accounts whose
-- lock_version a leg checks; returns the pairs' state (lock_version: ledger.lock_version).
SELECT account_id::text, currency, lock_version,
       posted_debits, posted_credits, pending_debits, pending_credits, version
  FROM ledger.lock_balances(%(account_ids)s::uuid[], %(currencies)s::text[], %(whole_accounts)s::uuid[])
