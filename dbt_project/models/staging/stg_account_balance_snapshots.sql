{{ config(materialized='view') }}
-- Daily account balances: one row per account, currency and day the account moved; the balance
-- on a day without a row is that of the latest earlier row (interfaces.md).
select
    account,
    currency,
    as_of_date,
    normal_balance,
    posted,
    pending,
    available,
    posted_debits,
    posted_credits,
    pending_debits,
    pending_credits
from {{ source('analytics', 'account_balance_snapshots') }}
