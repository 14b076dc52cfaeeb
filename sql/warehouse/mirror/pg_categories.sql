-- Every category with its normal balance resolved (ledger.normal_balance_of_category).
SELECT c.code, c.kind, c.parent_code, ledger.normal_balance_of_category(c.code, c.normal_balance) AS normal_balance
  FROM ledger.categories c
