-- Trial balance (interfaces.md): per account and currency at every month end and the latest
-- day, the cumulative posted debits and credits and the posted balance signed by the account's
-- normal balance. Accounts appear once anything has been posted to them. `debit_balance` /
-- `credit_balance` show the net (debits - credits) on its side, as a trial balance is drawn up:
-- their totals per currency are equal (trial_balance_totals).
select
    period,
    as_of_date,
    is_month_end,
    account,
    split_part(account, ':', 1) as top_segment,
    normal_balance,
    currency,
    posted_debits as debits,
    posted_credits as credits,
    posted as balance,
    greatest(posted_debits - posted_credits, 0) as debit_balance,
    greatest(posted_credits - posted_debits, 0) as credit_balance
from {{ ref('int_account_balances') }}
where posted_debits <> 0 or posted_credits <> 0
