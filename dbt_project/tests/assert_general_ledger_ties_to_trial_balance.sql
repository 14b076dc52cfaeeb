{{ config(meta={'dagster': {'ref': {'name': 'general_ledger'}}}) }}
-- Every account's closing balance in a period's general ledger equals its trial balance at the
-- period's report date; its opening balance equals the trial balance at the previous report date
-- (0 before the account's first entry); each entry line's balance is the previous line's plus
-- the entry signed by the normal balance; and the closing line's debit and credit are the
-- period's totals.
with gl as (
    select
        *,
        lag(balance) over (partition by period, account, currency order by line_no) as previous_balance,
        case when normal_balance = 'debit' then coalesce(debit, 0) - coalesce(credit, 0)
             else coalesce(credit, 0) - coalesce(debit, 0) end as signed
    from {{ ref('general_ledger') }}
),

dates as (
    select period, as_of_date, lag(as_of_date) over (order by as_of_date) as prior_as_of_date
    from {{ ref('int_report_dates') }}
),

tb as (
    select as_of_date, account, currency, balance from {{ ref('trial_balance') }}
),

totals as (
    select period, account, currency, sum(debit) as debits, sum(credit) as credits
    from gl
    where line_type = 'entry'
    group by all
)

select g.period, g.account, g.currency, g.line_no, g.line_type, g.balance, tb.balance as expected
from gl as g
inner join dates as d using (period)
left join tb on tb.account = g.account and tb.currency = g.currency
    and tb.as_of_date = case when g.line_type = 'opening' then d.prior_as_of_date else d.as_of_date end
where (g.line_type in ('opening', 'closing') and g.balance <> coalesce(tb.balance, 0))
    or (g.line_type = 'entry' and g.balance <> g.previous_balance + g.signed)

union all

select g.period, g.account, g.currency, g.line_no, 'closing totals', g.debit, t.debits
from gl as g
inner join totals as t using (period, account, currency)
where g.line_type = 'closing' and (g.debit <> t.debits or g.credit <> t.credits)
