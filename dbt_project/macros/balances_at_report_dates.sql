{#- Balances of every `key_column` (account or category) and currency at each report date
    (int_report_dates: month ends and the latest day), from daily snapshots that only have a row
    on days the key moved: an ASOF join takes the latest row on or before each date. Keys appear
    from their first snapshot on, every later report date included (zero-movement months too), so
    `lag` over the dates gives the previous report date's balance and the period's activity is a
    difference of cumulative sums. No correlated subqueries: one range join and one ASOF join. -#}
{% macro balances_at_report_dates(snapshots, key_column, keys_filter=none) %}
with snapshots as (
    select * from {{ snapshots }}
    {% if keys_filter %}where {{ keys_filter }}{% endif %}
),

keys as (
    select {{ key_column }}, currency, min(as_of_date) as first_day
    from snapshots
    group by all
),

spine as (
    select k.{{ key_column }}, k.currency, d.period, d.period_start, d.as_of_date, d.is_month_end
    from keys as k
    inner join {{ ref('int_report_dates') }} as d
        on d.as_of_date >= k.first_day
),

at_dates as (
    select
        spine.*,
        s.normal_balance,
        s.posted,
        s.pending,
        s.available,
        s.posted_debits,
        s.posted_credits,
        s.pending_debits,
        s.pending_credits
    from spine
    asof inner join snapshots as s
        on s.{{ key_column }} = spine.{{ key_column }}
        and s.currency = spine.currency
        and spine.as_of_date >= s.as_of_date
)

select
    *,
    coalesce(lag(posted) over w, 0) as opening_posted,
    posted_debits - coalesce(lag(posted_debits) over w, 0) as period_posted_debits,
    posted_credits - coalesce(lag(posted_credits) over w, 0) as period_posted_credits
from at_dates
window w as (partition by {{ key_column }}, currency order by as_of_date)
{% endmacro %}
