-- Batch keys already used by the ledger, as idempotency keys or as lifecycle-move keys.
-- One unique-index probe per key (LATERAL ... LIMIT 1; the keys are unique): a join would let
-- the planner merge the batch with a scan of the whole key index, whose cost grows with the
-- ledger (0.9 s per 85k-event batch at 1M transactions, measured by bench/ingest_bench.py).
SELECT k.seq, k.key, t.content_hash AS stored_hash, t.transaction_id::text
  FROM bulk_keys k
 CROSS JOIN LATERAL (SELECT t.content_hash, t.transaction_id FROM ledger.transactions t
                      WHERE t.idempotency_key = k.key LIMIT 1) t
UNION ALL
SELECT k.seq, k.key, t.transition_hash, t.transaction_id::text
  FROM bulk_keys k
 CROSS JOIN LATERAL (SELECT t.transition_hash, t.transaction_id FROM ledger.transactions t
                      WHERE t.transition_key = k.key LIMIT 1) t
