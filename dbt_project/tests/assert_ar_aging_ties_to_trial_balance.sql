{{ config(meta={'dagster': {'ref': {'name': 'ar_aging'}}}) }}
-- Open receivables minus unapplied credits, over all customers, equal the receivable accounts'
-- balances in the trial balance, per date and currency.
with aging as (
    select as_of_date, currency, sum(total_open - unapplied_credits) as balance
    from {{ ref('ar_aging') }}
    group by all
),

tb as (
    select as_of_date, currency, sum(balance) as balance
    from {{ ref('trial_balance') }}
    where {{ starts_with_prefix('account', var('receivables_prefix')) }}
    group by all
)

select as_of_date, currency, aging.balance as aging_balance, tb.balance as trial_balance
from aging
full outer join tb using (as_of_date, currency)
where coalesce(aging.balance, 0) <> coalesce(tb.balance, 0)
