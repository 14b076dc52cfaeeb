-- Every account's balances at each report date, with the previous report date's posted balance
-- (`opening_posted`) and the posted debits/credits of the period.
{{ balances_at_report_dates(ref('stg_account_balance_snapshots'), 'account') }}
