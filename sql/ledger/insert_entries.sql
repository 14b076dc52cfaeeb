INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
SELECT %(transaction_id)s::uuid, u.entry_no, u.account_id, u.direction, u.amount, u.currency, %(effective_at)s
  FROM unnest(%(entry_nos)s::int[], %(account_ids)s::uuid[], %(directions)s::text[], %(amounts)s::bigint[],
              %(currencies)s::text[]) AS u(entry_no, account_id, direction, amount, currency)
