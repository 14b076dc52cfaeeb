{{ config(materialized='view') }}
-- Ledger accounts with their top-level segment (assets, liabilities, ...), which decides the
-- statement section, and their normal balance, which signs every balance.
select
    account_id,
    account,
    normal_balance,
    currency as restricted_currency,
    split_part(account, ':', 1) as top_segment,
    metadata,
    created_at
from {{ source('analytics', 'accounts') }}
