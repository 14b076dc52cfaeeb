-- The general ledger per report period: for every account and currency with posted entries in the
-- period, an `opening` line (the posted balance before the period's first entry), one `entry`
-- line per posted entry in booking order with the running balance after it, and a `closing` line
-- (the balance after the last entry; its debit and credit are the period's totals). Balances are
-- signed by the account's normal balance. The closing balance equals the trial balance at the
-- period's report date, and each opening the previous closing (tested). `subledger register`
-- reads the entry lines for any account or category and date range.
with entries as (
    select * from {{ ref('int_account_register') }}
),

sections as (
    select
        period,
        account,
        currency,
        any_value(normal_balance) as normal_balance,
        arg_min(balance_after - signed_amount, line_no) as opening_balance,
        arg_max(balance_after, line_no) as closing_balance,
        sum(debit) as period_debits,
        sum(credit) as period_credits,
        min(line_no) as first_line,
        max(line_no) as last_line
    from entries
    group by period, account, currency
),

lines as (
    select
        period, account, currency, normal_balance, 0 as line_no, 'opening' as line_type,
        cast(null as date) as posting_date, cast(null as timestamptz) as posting_at,
        cast(null as timestamptz) as effective_at, null as transaction_id,
        cast(null as integer) as entry_no, null as event_type, null as reference, 'Opening balance' as description,
        cast(null as bigint) as debit, cast(null as bigint) as credit, opening_balance as balance
    from sections

    union all by name
    select
        e.period, e.account, e.currency, e.normal_balance, e.line_no - s.first_line + 1 as line_no, 'entry' as line_type,
        e.posting_date, e.posting_at, e.effective_at, e.transaction_id, e.entry_no, e.event_type, e.reference, e.description,
        e.debit, e.credit, e.balance_after as balance
    from entries as e
    inner join sections as s using (period, account, currency)

    union all by name
    select
        period, account, currency, normal_balance, last_line - first_line + 2 as line_no, 'closing' as line_type,
        null as posting_date, null as posting_at, null as effective_at, null as transaction_id, null as entry_no, null as event_type,
        null as reference, 'Closing balance' as description,
        period_debits as debit, period_credits as credit, closing_balance as balance
    from sections
)

select
    l.period,
    d.as_of_date,
    d.is_month_end,
    l.account,
    l.normal_balance,
    l.currency,
    cast(l.line_no as bigint) as line_no,
    l.line_type,
    l.posting_date,
    l.posting_at,
    l.effective_at,
    l.transaction_id,
    l.entry_no,
    l.event_type,
    l.reference,
    l.description,
    cast(l.debit as bigint) as debit,
    cast(l.credit as bigint) as credit,
    cast(l.balance as bigint) as balance
from lines as l
inner join {{ ref('int_report_dates') }} as d using (period)
