-- Balances recomputed from entries as of effective time %(as_of)s, as known at system time
-- %(known_at)s (docs/architecture.md, "Balance definitions"):
--   * an entry counts if effective_at <= as_of and its transaction was created by known_at;
--   * in its state as of as_of (ledger.entry_state: posted, archived -- counting nowhere -- or
--     pending), a move counting only if it was recorded by known_at (status_changed_at; NULL for
--     transactions posted directly).
WITH counted AS (
    SELECT e.account_id, e.currency, e.direction, e.amount, s.state = 'posted' AS is_posted, s.state = 'archived' AS is_gone
      FROM ledger.entries e
      JOIN ledger.transactions t ON t.transaction_id = e.transaction_id
     CROSS JOIN LATERAL (
        SELECT ledger.entry_state(CASE WHEN coalesce(t.status_changed_at <= %(known_at)s, true) THEN t.status ELSE 'pending' END,
                                  t.posted_at, t.archived_at, %(as_of)s) AS state) s
     WHERE e.effective_at <= %(as_of)s
       AND t.created_at <= %(known_at)s
       AND (%(account_ids)s::uuid[] IS NULL OR e.account_id = ANY (%(account_ids)s::uuid[]))
       AND (%(currency)s::text IS NULL OR e.currency = %(currency)s::text)
)
SELECT a.code, a.normal_balance, c.currency,
       coalesce(sum(c.amount) FILTER (WHERE c.is_posted AND c.direction = 'debit'), 0)::bigint AS posted_debits,
       coalesce(sum(c.amount) FILTER (WHERE c.is_posted AND c.direction = 'credit'), 0)::bigint AS posted_credits,
       coalesce(sum(c.amount) FILTER (WHERE NOT c.is_posted AND NOT c.is_gone AND c.direction = 'debit'), 0)::bigint AS pending_debits,
       coalesce(sum(c.amount) FILTER (WHERE NOT c.is_posted AND NOT c.is_gone AND c.direction = 'credit'), 0)::bigint AS pending_credits
  FROM counted c
  JOIN ledger.accounts a ON a.account_id = c.account_id
 GROUP BY a.code, a.normal_balance, c.currency
 ORDER BY a.code, c.currency
