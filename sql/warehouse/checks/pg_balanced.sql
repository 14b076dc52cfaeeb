-- Per transaction and currency in the ledger: debits, credits and their difference.
SELECT e.transaction_id::text AS transaction_id, e.currency,
       sum(e.amount) FILTER (WHERE e.direction = 'debit')::bigint AS debits,
       sum(e.amount) FILTER (WHERE e.direction = 'credit')::bigint AS credits,
       (coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0)
        - coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0))::bigint AS net
  FROM ledger.entries e
 GROUP BY e.transaction_id, e.currency
