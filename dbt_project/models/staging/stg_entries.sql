{{ config(materialized='view') }}
-- Every leg of every transaction (any status). The account code is taken from analytics.accounts
-- when the mirror left it out, and the account's normal balance is attached so that later models
-- can sign amounts without another join.
select
    e.transaction_id,
    e.entry_no,
    e.account_id,
    coalesce(e.account, a.account) as account,
    a.normal_balance,
    e.direction,
    e.amount,
    e.currency,
    e.effective_at,
    e.effective_date
from {{ source('analytics', 'entries') }} as e
left join {{ ref('stg_accounts') }} as a using (account_id)
