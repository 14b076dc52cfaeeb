INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone, reason)
VALUES (%(period)s, %(action)s, %(starts_at)s, %(ends_at)s, %(timezone)s, %(reason)s)
RETURNING closure_id::text, at
