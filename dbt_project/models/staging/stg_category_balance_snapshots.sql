{{ config(materialized='view') }}
-- Daily category balances (same shape as the account snapshots, keyed by category).
select
    category,
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
from {{ source('analytics', 'category_balance_snapshots') }}
