-- New entries from the Arrow stream incoming_entries, with the account code and the effective
-- date in the reporting time zone ($tz).
INSERT INTO analytics.entries
SELECT e.transaction_id::VARCHAR, e.entry_no, e.account_id::VARCHAR, a.account, e.direction, e.amount,
       e.currency, e.effective_at, local_day(e.effective_at, $tz)
  FROM incoming_entries e
  LEFT JOIN analytics.accounts a ON a.account_id = e.account_id::VARCHAR
