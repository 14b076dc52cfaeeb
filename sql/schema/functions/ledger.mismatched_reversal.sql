-- ledger.mismatched_reversal(xid): the first reversal created by database transaction `xid` whose
-- entries are not exactly its target's with debit and credit swapped (same accounts, currencies
-- and amounts, leg for leg as a multiset), or no row. A reversal undoes its target; anything else
-- is a new posting and must be posted as one (I4). Called by ledger.check_at_commit, when every
-- leg has arrived; reversals are few, so only they are compared, each leg read in the partition
-- of its transaction's month.
CREATE OR REPLACE FUNCTION ledger.mismatched_reversal(p_xid xid8)
RETURNS TABLE (transaction_id uuid, idempotency_key text, target_id uuid)
LANGUAGE sql STABLE AS $$
SELECT r.transaction_id, r.idempotency_key, r.reverses_transaction_id
  FROM ledger.transactions r
  JOIN ledger.transactions target ON target.transaction_id = r.reverses_transaction_id
 WHERE r.changed_xid = p_xid AND r.created_xid = p_xid AND r.reverses_transaction_id IS NOT NULL
   AND EXISTS (
        (SELECT e.account_id, e.currency, e.amount, e.direction
           FROM ledger.entries e WHERE e.transaction_id = r.transaction_id AND e.effective_at = r.effective_at
         EXCEPT ALL
         SELECT o.account_id, o.currency, o.amount, CASE o.direction WHEN 'debit' THEN 'credit' ELSE 'debit' END
           FROM ledger.entries o WHERE o.transaction_id = r.reverses_transaction_id AND o.effective_at = target.effective_at)
        UNION ALL
        (SELECT o.account_id, o.currency, o.amount, CASE o.direction WHEN 'debit' THEN 'credit' ELSE 'debit' END
           FROM ledger.entries o WHERE o.transaction_id = r.reverses_transaction_id AND o.effective_at = target.effective_at
         EXCEPT ALL
         SELECT e.account_id, e.currency, e.amount, e.direction
           FROM ledger.entries e WHERE e.transaction_id = r.transaction_id AND e.effective_at = r.effective_at))
 LIMIT 1
$$;

REVOKE ALL ON FUNCTION ledger.mismatched_reversal(xid8) FROM PUBLIC;
