-- Configured group memberships.
SELECT m.category_code, m.account_id FROM ledger.category_members m
