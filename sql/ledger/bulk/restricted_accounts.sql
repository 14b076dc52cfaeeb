-- Accounts among the given ids that accept a single currency.
SELECT account_id::text, code, currency FROM ledger.accounts
 WHERE account_id = ANY (%(ids)s::uuid[]) AND currency IS NOT NULL
