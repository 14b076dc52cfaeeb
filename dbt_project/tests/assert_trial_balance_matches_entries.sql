{{ config(meta={'dagster': {'ref': {'name': 'trial_balance'}}}) }}
-- The trial balance (from the daily snapshots) equals the posted debits and credits recomputed
-- from the entries: an entry counts from the later of its effective day and its transaction's
-- posting day (docs/architecture.md, "Balance definitions"; int_posted_entries). Returns the
-- disagreeing rows.
with per_date as (
    select e.account, e.currency, d.as_of_date,
        sum(e.amount) filter (where e.direction = 'debit') as debits,
        sum(e.amount) filter (where e.direction = 'credit') as credits
    from {{ ref('int_posted_entries') }} as e
    inner join {{ ref('int_report_dates') }} as d using (period)
    group by all
),

cumulative as (
    select
        account,
        currency,
        as_of_date,
        sum(coalesce(debits, 0)) over w as debits,
        sum(coalesce(credits, 0)) over w as credits
    from per_date
    window w as (partition by account, currency order by as_of_date rows between unbounded preceding and current row)
),

tb_vs_entries as (
    select tb.as_of_date, tb.account, tb.currency, tb.debits, tb.credits,
           coalesce(c.debits, 0) as entry_debits, coalesce(c.credits, 0) as entry_credits
    from {{ ref('trial_balance') }} as tb
    asof left join cumulative as c
        on c.account = tb.account and c.currency = tb.currency and tb.as_of_date >= c.as_of_date
),

entries_missing_from_tb as (
    select c.as_of_date, c.account, c.currency, null as debits, null as credits, c.debits as entry_debits, c.credits as entry_credits
    from cumulative as c
    anti join {{ ref('trial_balance') }} as tb using (as_of_date, account, currency)
)

select * from tb_vs_entries where debits <> entry_debits or credits <> entry_credits
union all
select * from entries_missing_from_tb
