-- Cached balances of the selected accounts (all when %(codes)s is NULL), optionally one currency.
SELECT a.code, a.normal_balance, b.currency,
       b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version, ledger.lock_version(a.account_id)
  FROM ledger.balances b
  JOIN ledger.accounts a ON a.account_id = b.account_id
 WHERE (%(codes)s::text[] IS NULL OR a.code = ANY (%(codes)s::text[]))
   AND (%(currency)s::text IS NULL OR b.currency = %(currency)s::text)
   AND (%(codes)s::text[] IS NOT NULL OR b.version > 0)
 ORDER BY a.code, b.currency
