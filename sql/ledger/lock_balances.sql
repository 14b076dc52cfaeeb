-- Lock (account, currency) balances and their accounts in the global order; returns their state.
SELECT account_id::text, currency, lock_version,
       posted_debits, posted_credits, pending_debits, pending_credits, version
  FROM ledger.lock_balances(%(account_ids)s::uuid[], %(currencies)s::text[])
