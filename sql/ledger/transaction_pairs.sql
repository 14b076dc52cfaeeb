-- The (account_id, currency) pairs a transaction's entries touch.
SELECT DISTINCT account_id::text, currency FROM ledger.entries WHERE transaction_id = %(transaction_id)s::uuid
