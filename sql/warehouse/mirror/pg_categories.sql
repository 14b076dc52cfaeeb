-- Every category with its normal balance resolved: its own, else (path) its top segment's, else debit.
SELECT c.code, c.kind, c.parent_code,
       coalesce(c.normal_balance, CASE WHEN c.kind = 'path' THEN t.normal_balance END, 'debit') AS normal_balance
  FROM ledger.categories c
  LEFT JOIN ledger.account_types t ON t.top_segment = split_part(c.code, ':', 1)
