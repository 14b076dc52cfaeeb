SELECT code, normal_balance, currency, lock_version, metadata, created_at
  FROM ledger.accounts WHERE code = %(code)s
