-- The dates every report is computed at: each month end from the month of the first snapshot,
-- and the latest day (var report_date, else the day the account snapshots were built through:
-- their build record, warehouse_meta.builds, i.e. today in the reporting time zone when the
-- pipeline built them). One row per period ('YYYY-MM'); the latest period's as_of_date is the
-- latest day, which is a month end only when the month is complete.
with built as (
    select max(last_day) as last_day
    from {{ source('warehouse_meta', 'builds') }}
    where product = 'account_snapshots'
),

bounds as (
    select
        min(as_of_date) as first_day,
        coalesce({{ report_date_literal() }}, (select last_day from built)) as last_day
    from {{ ref('stg_account_balance_snapshots') }}
),

months as (
    select
        cast(unnest(generate_series(
            cast(date_trunc('month', first_day) as timestamp),
            cast(date_trunc('month', last_day) as timestamp),
            interval 1 month
        )) as date) as period_start,
        last_day
    from bounds
    where first_day is not null and last_day >= first_day
)

select
    {{ period_of('period_start') }} as period,
    period_start,
    least(last_day(period_start), last_day) as as_of_date,
    last_day(period_start) <= last_day as is_month_end
from months
