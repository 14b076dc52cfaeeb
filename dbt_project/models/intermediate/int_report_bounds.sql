-- The report calendar in one row: the first period and the last day (int_report_dates). A day
-- falls in the period of its month; days before the first period count in the first period (as
-- in the snapshots, which fold earlier entries into the first day), days after the last day in
-- none. Cheaper than a join for tables of millions of rows (macro report_period).
select
    min(period_start) as first_period_start,
    min(period) as first_period,
    max(as_of_date) as last_day
from {{ ref('int_report_dates') }}
having count(*) > 0
