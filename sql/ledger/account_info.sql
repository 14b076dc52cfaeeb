SELECT code, normal_balance, currency, ledger.lock_version(account_id), metadata, created_at
  FROM ledger.accounts WHERE code = %(code)s
