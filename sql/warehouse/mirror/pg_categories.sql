-- Every category with its normal balance resolved: its own, else its top segment's account type's
-- (paths, and groups named under a type such as 'revenue:promo'), else debit.
SELECT c.code, c.kind, c.parent_code,
       coalesce(c.normal_balance, t.normal_balance, 'debit') AS normal_balance
  FROM ledger.categories c
  LEFT JOIN ledger.account_types t ON t.top_segment = split_part(c.code, ':', 1)
