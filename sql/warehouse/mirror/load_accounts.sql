-- Full refresh of analytics.accounts from the registered Arrow stream incoming_accounts.
DELETE FROM analytics.accounts;
INSERT INTO analytics.accounts
SELECT account_id::VARCHAR, account, normal_balance, currency, metadata::JSON, created_at
  FROM incoming_accounts;
