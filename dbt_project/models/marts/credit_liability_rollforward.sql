-- Customer credit liability roll-forward per month and currency over the accounts
-- `liabilities:customer_credits:<subscription_id>`: opening (posted balance at the previous
-- report date), granted (credit.granted), applied (credit.applied, shown positive), other
-- movements (reversals, journals; signed), closing (posted balance at the report date).
-- Balances come from the snapshots and movements from the entries, so the tested identity
-- opening + granted - applied + other_movements = closing checks one against the other.
with balances as (
    select
        period,
        currency,
        sum(opening_posted) as opening_balance,
        sum(posted) as closing_balance,
        count(*) filter (where posted <> 0) as subscriptions_with_credit
    from {{ ref('int_account_balances') }}
    where {{ starts_with_prefix('account', var('customer_credits_prefix')) }}
    group by all
),

movements as (
    select
        period,
        currency,
        sum(signed_amount) filter (where event_type = 'credit.granted') as granted,
        -sum(signed_amount) filter (where event_type = 'credit.applied') as applied,
        sum(signed_amount) filter (where event_type is distinct from 'credit.granted' and event_type is distinct from 'credit.applied')
            as other_movements
    from {{ ref('int_posted_entries') }}
    where {{ starts_with_prefix('account', var('customer_credits_prefix')) }} and period is not null
    group by all
)

select
    d.period,
    d.period_start,
    d.as_of_date,
    d.is_month_end,
    currency,
    cast(coalesce(b.opening_balance, 0) as bigint) as opening_balance,
    cast(coalesce(m.granted, 0) as bigint) as granted,
    cast(coalesce(m.applied, 0) as bigint) as applied,
    cast(coalesce(m.other_movements, 0) as bigint) as other_movements,
    cast(coalesce(b.closing_balance, 0) as bigint) as closing_balance,
    cast(coalesce(b.subscriptions_with_credit, 0) as bigint) as subscriptions_with_credit
-- a full join: a movement without a balance row (or the reverse) breaks the tested identity
from (select period, currency, opening_balance, closing_balance, subscriptions_with_credit from balances) as b
full outer join movements as m using (period, currency)
inner join {{ ref('int_report_dates') }} as d using (period)
