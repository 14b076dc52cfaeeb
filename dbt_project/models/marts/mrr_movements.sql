-- MRR movements per month and currency (docs/reports.md, "MRR"). Each subscription's MRR in a
-- month is compared with its MRR in the previous month:
--   new          previous 0, never had MRR before          +MRR
--   reactivation previous 0, had MRR in an earlier month   +MRR
--   expansion    previous > 0, MRR higher                  +(MRR - previous)
--   contraction  previous > 0, MRR lower but > 0           (MRR - previous), negative
--   churn        previous > 0, MRR now 0                   -previous, negative
-- so that opening + new + expansion + contraction + churn + reactivation = closing (tested),
-- and each month's opening is the previous month's closing (tested). In a month to date, a
-- subscription whose renewal is not due yet keeps its MRR (int_subscription_mrr): it is counted
-- in closing_mrr and in renewal_pending_mrr / renewal_pending_subscriptions, never as churn.
with subscription_months as (
    select
        subscription_id,
        currency,
        period_start,
        mrr,
        renewal_pending,
        lag(period_start) over w as previous_start,
        lag(mrr) over w as previous_mrr,
        lead(period_start) over w as next_start
    from {{ ref('int_subscription_mrr') }}
    window w as (partition by subscription_id, currency order by period_start)
),

last_period as (
    select max(period_start) as last_start, max(as_of_date) as last_day from {{ ref('int_report_dates') }}
),

present as (
    select
        currency,
        period_start,
        mrr as closing_mrr,
        previous_start is null as is_new,
        previous_start is not null and previous_start < cast(period_start - interval 1 month as date) as is_reactivated,
        previous_start = cast(period_start - interval 1 month as date) as is_continuing,
        previous_mrr,
        renewal_pending
    from subscription_months
),

movements as (
    select
        currency,
        period_start,
        case when is_new then closing_mrr else 0 end as new_mrr,
        case when is_continuing and closing_mrr > previous_mrr then closing_mrr - previous_mrr else 0 end as expansion_mrr,
        case when is_continuing and closing_mrr < previous_mrr then closing_mrr - previous_mrr else 0 end as contraction_mrr,
        0 as churned_mrr,
        case when is_reactivated then closing_mrr else 0 end as reactivation_mrr,
        closing_mrr,
        1 as active_subscriptions,
        cast(is_new as integer) as new_subscriptions,
        cast(is_continuing and closing_mrr > previous_mrr as integer) as expanded_subscriptions,
        cast(is_continuing and closing_mrr < previous_mrr as integer) as contracted_subscriptions,
        0 as churned_subscriptions,
        cast(is_reactivated as integer) as reactivated_subscriptions,
        case when renewal_pending then closing_mrr else 0 end as renewal_pending_mrr,
        cast(renewal_pending as integer) as renewal_pending_subscriptions
    from present

    union all

    -- churn: the month after a month with MRR, when that month has none
    select
        s.currency,
        cast(s.period_start + interval 1 month as date) as period_start,
        0, 0, 0,
        -s.mrr as churned_mrr,
        0, 0, 0, 0, 0, 0,
        1 as churned_subscriptions,
        0, 0, 0
    from subscription_months as s, last_period as l
    where (s.next_start is null or s.next_start > cast(s.period_start + interval 1 month as date))
        and cast(s.period_start + interval 1 month as date) <= l.last_start
),

totals as (
    select
        currency,
        period_start,
        sum(new_mrr) as new_mrr,
        sum(expansion_mrr) as expansion_mrr,
        sum(contraction_mrr) as contraction_mrr,
        sum(churned_mrr) as churned_mrr,
        sum(reactivation_mrr) as reactivation_mrr,
        sum(closing_mrr) as closing_mrr,
        sum(active_subscriptions) as active_subscriptions,
        sum(new_subscriptions) as new_subscriptions,
        sum(expanded_subscriptions) as expanded_subscriptions,
        sum(contracted_subscriptions) as contracted_subscriptions,
        sum(churned_subscriptions) as churned_subscriptions,
        sum(reactivated_subscriptions) as reactivated_subscriptions,
        sum(renewal_pending_mrr) as renewal_pending_mrr,
        sum(renewal_pending_subscriptions) as renewal_pending_subscriptions
    from movements
    group by all
),

-- every month from a currency's first MRR month to the latest report period, movement or not
grid as (
    select
        f.currency,
        cast(unnest(generate_series(cast(f.first_start as timestamp), cast(l.last_start as timestamp), interval 1 month)) as date)
            as period_start
    from (select currency, min(period_start) as first_start from totals group by all) as f, last_period as l
),

filled as (
    select
        g.currency,
        g.period_start,
        coalesce(t.new_mrr, 0) as new_mrr,
        coalesce(t.expansion_mrr, 0) as expansion_mrr,
        coalesce(t.contraction_mrr, 0) as contraction_mrr,
        coalesce(t.churned_mrr, 0) as churned_mrr,
        coalesce(t.reactivation_mrr, 0) as reactivation_mrr,
        coalesce(t.closing_mrr, 0) as closing_mrr,
        coalesce(t.active_subscriptions, 0) as active_subscriptions,
        coalesce(t.new_subscriptions, 0) as new_subscriptions,
        coalesce(t.expanded_subscriptions, 0) as expanded_subscriptions,
        coalesce(t.contracted_subscriptions, 0) as contracted_subscriptions,
        coalesce(t.churned_subscriptions, 0) as churned_subscriptions,
        coalesce(t.reactivated_subscriptions, 0) as reactivated_subscriptions,
        coalesce(t.renewal_pending_mrr, 0) as renewal_pending_mrr,
        coalesce(t.renewal_pending_subscriptions, 0) as renewal_pending_subscriptions
    from grid as g
    left join totals as t using (currency, period_start)
)

select
    {{ period_of('f.period_start') }} as period,
    f.period_start,
    least(last_day(f.period_start), l.last_day) as as_of_date,
    last_day(f.period_start) <= l.last_day as is_month_end,
    f.currency,
    cast(coalesce(lag(f.closing_mrr) over (partition by f.currency order by f.period_start), 0) as bigint) as opening_mrr,
    cast(f.new_mrr as bigint) as new_mrr,
    cast(f.expansion_mrr as bigint) as expansion_mrr,
    cast(f.contraction_mrr as bigint) as contraction_mrr,
    cast(f.churned_mrr as bigint) as churned_mrr,
    cast(f.reactivation_mrr as bigint) as reactivation_mrr,
    cast(f.closing_mrr as bigint) as closing_mrr,
    cast(f.active_subscriptions as bigint) as active_subscriptions,
    cast(f.new_subscriptions as bigint) as new_subscriptions,
    cast(f.expanded_subscriptions as bigint) as expanded_subscriptions,
    cast(f.contracted_subscriptions as bigint) as contracted_subscriptions,
    cast(f.churned_subscriptions as bigint) as churned_subscriptions,
    cast(f.reactivated_subscriptions as bigint) as reactivated_subscriptions,
    cast(f.renewal_pending_mrr as bigint) as renewal_pending_mrr,
    cast(f.renewal_pending_subscriptions as bigint) as renewal_pending_subscriptions
from filled as f, last_period as l
