-- Cached balances (ledger.balances) next to the recomputation from entries (current state:
-- posted transactions in the posted sums, pending ones in the pending sums, archived nowhere),
-- per account and currency, with the difference.
WITH recomputed AS (
    SELECT e.account_id, e.currency,
           coalesce(sum(e.amount) FILTER (WHERE t.status = 'posted' AND e.direction = 'debit'), 0)::bigint AS posted_debits,
           coalesce(sum(e.amount) FILTER (WHERE t.status = 'posted' AND e.direction = 'credit'), 0)::bigint AS posted_credits,
           coalesce(sum(e.amount) FILTER (WHERE t.status = 'pending' AND e.direction = 'debit'), 0)::bigint AS pending_debits,
           coalesce(sum(e.amount) FILTER (WHERE t.status = 'pending' AND e.direction = 'credit'), 0)::bigint AS pending_credits
      FROM ledger.entries e
      JOIN ledger.transactions t ON t.transaction_id = e.transaction_id
     GROUP BY e.account_id, e.currency
), paired AS (
    SELECT coalesce(b.account_id, r.account_id) AS account_id, coalesce(b.currency, r.currency) AS currency,
           coalesce(b.posted_debits, 0) AS cached_posted_debits, coalesce(r.posted_debits, 0) AS recomputed_posted_debits,
           coalesce(b.posted_credits, 0) AS cached_posted_credits, coalesce(r.posted_credits, 0) AS recomputed_posted_credits,
           coalesce(b.pending_debits, 0) AS cached_pending_debits, coalesce(r.pending_debits, 0) AS recomputed_pending_debits,
           coalesce(b.pending_credits, 0) AS cached_pending_credits, coalesce(r.pending_credits, 0) AS recomputed_pending_credits
      FROM ledger.balances b
      FULL JOIN recomputed r ON r.account_id = b.account_id AND r.currency = b.currency
)
SELECT a.code AS account, p.currency,
       p.cached_posted_debits, p.recomputed_posted_debits, p.cached_posted_credits, p.recomputed_posted_credits,
       p.cached_pending_debits, p.recomputed_pending_debits, p.cached_pending_credits, p.recomputed_pending_credits,
       (p.cached_posted_debits - p.recomputed_posted_debits) AS diff_posted_debits,
       (p.cached_posted_credits - p.recomputed_posted_credits) AS diff_posted_credits,
       (p.cached_pending_debits - p.recomputed_pending_debits) AS diff_pending_debits,
       (p.cached_pending_credits - p.recomputed_pending_credits) AS diff_pending_credits
  FROM paired p
  JOIN ledger.accounts a ON a.account_id = p.account_id
