-- The currencies an account holds a balance in.
SELECT b.currency FROM ledger.balances b WHERE b.account_id = %(account_id)s ORDER BY b.currency
