-- The legs of existing target transactions: what a move or reversal will lock and touch.
SELECT e.transaction_id::text, e.account_id::text, e.currency, e.direction, e.amount
  FROM ledger.entries e
 WHERE e.transaction_id = ANY (%(ids)s::uuid[])
