-- An account's entries that count in its posted balance during (%(from)s, %(to)s], in one currency,
-- in the order they started to count: an entry counts from greatest(effective_at, posted_at) (a
-- transaction held pending counts when it is posted; archived ones never), as balances as of a
-- time count them (docs/architecture.md, "Balance definitions"). Keyset pagination after
-- (%(after_at)s, %(after_tx)s, %(after_no)s); statement_sum.sql totals the lines up to it.
WITH lines AS (
    SELECT greatest(e.effective_at, t.posted_at) AS counted_at, t.transaction_id, e.entry_no, e.effective_at,
           t.posted_at, e.direction, e.amount, t.idempotency_key, t.description, t.source_event_type, t.reference
      FROM ledger.entries e
      JOIN ledger.transactions t USING (transaction_id)
     WHERE e.account_id = %(account_id)s AND e.currency = %(currency)s AND t.status = 'posted'
       AND e.effective_at <= %(to)s AND t.posted_at <= %(to)s
       AND greatest(e.effective_at, t.posted_at) > %(from)s
)
SELECT counted_at, transaction_id::text, entry_no, effective_at, posted_at, direction, amount, idempotency_key,
       description, source_event_type, reference
  FROM lines
 WHERE (counted_at, transaction_id, entry_no) > (%(after_at)s, %(after_tx)s::uuid, %(after_no)s)
 ORDER BY counted_at, transaction_id, entry_no
 LIMIT %(limit)s
