-- Signed total (debits positive) of the statement lines of statement_lines.sql up to and including
-- position (%(after_at)s, %(after_tx)s, %(after_no)s): the running balance where a page starts.
SELECT coalesce(sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE -e.amount END), 0)::numeric
  FROM ledger.entries e
  JOIN ledger.transactions t USING (transaction_id)
 WHERE e.account_id = %(account_id)s AND e.currency = %(currency)s AND t.status = 'posted'
   AND e.effective_at <= %(to)s AND t.posted_at <= %(to)s
   AND greatest(e.effective_at, t.posted_at) > %(from)s
   AND (greatest(e.effective_at, t.posted_at), t.transaction_id, e.entry_no) <= (%(after_at)s, %(after_tx)s::uuid, %(after_no)s)
