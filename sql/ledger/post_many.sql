-- Several postings, one round trip and one database transaction, one outcome each:
-- sql/schema/functions/ledger.post_many.sql. Prepared once per connection (Ledger.post_many).
SELECT n, transaction_id::text, status, created, account_codes, currencies, normal_balances, posted_debits,
       posted_credits, pending_debits, pending_credits, versions, lock_versions,
       refusal_sqlstate, refusal_message, refusal_detail, refusal_hint
  FROM ledger.post_many(%(postings)s::jsonb)
 ORDER BY n
