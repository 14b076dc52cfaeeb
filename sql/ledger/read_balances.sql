-- Current cached balances for (account_id, currency) pairs.
SELECT b.account_id::text, a.code, a.normal_balance, b.currency,
       b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version
  FROM ledger.balances b
  JOIN ledger.accounts a ON a.account_id = b.account_id
 WHERE (b.account_id, b.currency) IN (SELECT * FROM unnest(%(account_ids)s::uuid[], %(currencies)s::text[]))
