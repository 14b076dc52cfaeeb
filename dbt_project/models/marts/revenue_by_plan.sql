-- Subscription revenue by plan and month: the posted activity of each
-- `revenue:subscriptions:<plan_id>` account in the month (credits = invoiced, debits = reversals
-- and other reductions), revenue = credits - debits.
select
    period,
    period_start,
    as_of_date,
    is_month_end,
    split_part({{ after_prefix('account', var('subscription_revenue_prefix')) }}, ':', 1) as plan_id,
    currency,
    cast(sum(period_posted_credits) as bigint) as credits,
    cast(sum(period_posted_debits) as bigint) as debits,
    cast(sum(period_posted_credits) - sum(period_posted_debits) as bigint) as revenue
from {{ ref('int_account_balances') }}
where {{ starts_with_prefix('account', var('subscription_revenue_prefix')) }}
group by all
