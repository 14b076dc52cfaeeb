-- Open receivable items at each report date, FIFO (docs/reports.md, "AR aging"): per
-- receivable account (one per subscription) and currency, every posted credit (payments,
-- applied credits, reversals) settles the oldest posted debit (invoices, usage, ...) first, in the
-- order the debits started to count (posting day, then effective time, transaction, entry). A
-- debit is open at date d for the part of it the credits counted by d do not cover:
--   open = least(amount, cumulative debits through it - credits to date) when positive.
-- Set-based: one window sum per side, an ASOF join finds the day a debit becomes fully paid,
-- a range join pairs each debit with the report dates it is open on, an ASOF join fetches the
-- credits to date. Debits paid before a report date never meet it.
with receivables as (
    -- only the columns the allocation needs: the sorts below carry every column along
    select account, currency, transaction_id, entry_no, direction, amount, effective_at, effective_date, posting_date
    from {{ ref('int_posted_entries') }}
    where {{ starts_with_prefix('account', var('receivables_prefix')) }} and period is not null
),

debits as (
    select
        account,
        currency,
        transaction_id,
        entry_no,
        amount,
        effective_date,
        posting_date,
        sum(amount) over (
            partition by account, currency
            order by posting_date, effective_at, transaction_id, entry_no
            rows between unbounded preceding and current row
        ) as cumulative_debits
    from receivables
    where direction = 'debit'
),

credit_days as (
    select account, currency, posting_date, sum(amount) as amount
    from receivables
    where direction = 'credit'
    group by all
),

credit_timeline as (
    select
        *,
        sum(amount) over (
            partition by account, currency order by posting_date rows between unbounded preceding and current row
        ) as cumulative_credits
    from credit_days
),

debits_with_paid_day as (
    select d.*, c.posting_date as paid_date
    from debits as d
    asof left join credit_timeline as c
        on d.account = c.account
        and d.currency = c.currency
        and d.cumulative_debits <= c.cumulative_credits
),

open_at_dates as (
    select d.*, r.period, r.as_of_date
    from debits_with_paid_day as d
    inner join {{ ref('int_report_dates') }} as r
        on r.as_of_date >= d.posting_date
        and r.as_of_date < coalesce(d.paid_date, date '9999-12-31')
),

with_credits as (
    select o.*, coalesce(c.cumulative_credits, 0) as credits_to_date
    from open_at_dates as o
    asof left join credit_timeline as c
        on o.account = c.account
        and o.currency = c.currency
        and o.as_of_date >= c.posting_date
)

select
    period,
    as_of_date,
    account,
    {{ after_prefix('account', var('receivables_prefix')) }} as subscription_id,
    currency,
    transaction_id,
    entry_no,
    effective_date,
    posting_date,
    amount,
    least(amount, cumulative_debits - credits_to_date) as open_amount,
    date_diff('day', effective_date, as_of_date) as age_days
from with_credits
