-- Create missing accounts in key order. Existing ones are filtered out first, so the insert
-- trigger's code checks run only for new accounts; ON CONFLICT covers a concurrent creator.
INSERT INTO ledger.accounts (account_id, code, normal_balance)
SELECT u.account_id, u.code, u.normal_balance
  FROM unnest(%(ids)s::uuid[], %(codes)s::text[], %(normal)s::text[]) AS u(account_id, code, normal_balance)
 WHERE NOT EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.account_id = u.account_id)
 ORDER BY u.account_id
ON CONFLICT DO NOTHING
