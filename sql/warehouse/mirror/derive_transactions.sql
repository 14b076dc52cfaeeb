-- Recompute what the mirror computes once per transaction (macro transaction_fields) in the
-- reporting time zone $tz: for every row when the zone changed ($all), else only for rows an
-- earlier version mirrored without it (effective_date is NULL only there).
UPDATE analytics.transactions t
   SET effective_date = f.effective_date, posted_date = f.posted_date, archived_date = f.archived_date,
       posting_at = f.posting_at, posting_date = f.posting_date, subscription_id = f.subscription_id,
       customer_id = f.customer_id, source_amount = f.source_amount, source_currency = f.source_currency,
       invoice_id = f.invoice_id, plan_id = f.plan_id, payment_id = f.payment_id, is_payment = f.is_payment,
       credit_id = f.credit_id, period_start = f.period_start, period_end = f.period_end, reason = f.reason,
       region = f.region
  FROM (SELECT transaction_id,
               unnest(transaction_fields(status, effective_at, posted_at, archived_at, reference, event_type, metadata,
                                         source, $tz))
          FROM analytics.transactions
         WHERE $all OR effective_date IS NULL) f
 WHERE t.transaction_id = f.transaction_id;
