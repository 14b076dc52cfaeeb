SELECT period, starts_at, ends_at, timezone, closed_at, closed_by FROM ledger.closed_periods ORDER BY starts_at
