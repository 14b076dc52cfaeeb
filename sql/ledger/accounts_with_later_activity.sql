-- Accounts of the selection (all when %(codes)s is NULL) whose cached balance counts something
-- dated after %(now)s: an entry effective later, or a lifecycle move (posted_at / archived_at)
-- dated later. The cache holds every entry whatever its date; a balance "now" must not, so these
-- accounts are answered as of now instead (ledger_pipelines/ledger/balances.py).
-- One entries_by_account probe per cached balance; the moves come from transactions_moves_by_time.
SELECT a.code
  FROM ledger.balances b
  JOIN ledger.accounts a ON a.account_id = b.account_id
 WHERE (%(codes)s::text[] IS NULL OR a.code = ANY (%(codes)s::text[]))
   AND (%(currency)s::text IS NULL OR b.currency = %(currency)s::text)
   AND EXISTS (SELECT 1 FROM ledger.entries e
                WHERE e.account_id = b.account_id AND e.currency = b.currency AND e.effective_at > %(now)s)
UNION
SELECT a.code
  FROM ledger.transactions t
  JOIN ledger.entries e ON e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at
  JOIN ledger.accounts a ON a.account_id = e.account_id
 WHERE t.status_changed_at IS NOT NULL
   AND coalesce(t.posted_at, t.archived_at) > %(now)s
   AND (%(codes)s::text[] IS NULL OR a.code = ANY (%(codes)s::text[]))
   AND (%(currency)s::text IS NULL OR e.currency = %(currency)s::text)
