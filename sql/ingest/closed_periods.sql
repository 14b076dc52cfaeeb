SELECT period, starts_at, ends_at FROM ledger.closed_periods ORDER BY starts_at
