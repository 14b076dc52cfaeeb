-- Per transaction and currency in the mirror: debits, credits and their difference.
SELECT transaction_id, currency,
       CAST(coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0) AS BIGINT) AS debits,
       CAST(coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0) AS BIGINT) AS credits,
       CAST(coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)
            - coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0) AS BIGINT) AS net
  FROM analytics.entries
 GROUP BY transaction_id, currency
