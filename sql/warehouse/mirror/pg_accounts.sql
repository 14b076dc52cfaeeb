-- Every account (a full refresh each run: metadata may change, lock_version is not mirrored).
SELECT a.account_id, a.code AS account, a.normal_balance, a.currency, a.metadata, a.created_at
  FROM ledger.accounts a
