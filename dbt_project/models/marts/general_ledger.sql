-- The general ledger per report period: for every account and currency with posted entries in the
-- period, an `opening` line (the posted balance before the period's first entry), one `entry`
-- line per posted entry in the order it started to count in posted balances (posting time, then
-- effective time, transaction, entry) with the running balance after it, and a `closing` line
-- (the balance after the last entry; its debit and credit are the period's totals). Balances are
-- signed by the account's normal balance. An entry is in the period of its posting day, so a
-- payment initiated in January and settled in February is in February and a closed month's lines
-- never change. `entry_seq` numbers an account's entries over its whole history. The closing
-- balance equals the trial balance at the period's report date, and each opening the previous
-- closing (tested). `subledger register` reads the entry lines for any account or category and
-- date range; the subscription statements are these lines of the subscriptions' accounts.
with entries as (
    select *
    from {{ ref('int_posted_entries') }}
    where period is not null
),

-- the running balance over the few columns it needs (a window sorts every column it carries);
-- the descriptive columns are joined back afterwards
running as (
    select
        transaction_id,
        entry_no,
        row_number() over w as entry_seq,
        row_number() over (w_period) as line_no,
        cast(sum(signed_amount) over w as bigint) as balance_after
    from entries
    window
        w as (
            partition by account, currency
            order by posting_at, effective_at, transaction_id, entry_no
            rows between unbounded preceding and current row
        ),
        w_period as (partition by period, account, currency order by posting_at, effective_at, transaction_id, entry_no)
),

lines as (
    select
        e.period, e.account, e.normal_balance, e.currency, r.line_no, r.entry_seq, e.posting_date, e.posting_at,
        e.effective_at, e.effective_date, e.transaction_id, e.entry_no, e.event_type, e.reference, t.description,
        e.subscription_id, e.customer_id, e.direction, e.signed_amount,
        case when e.direction = 'debit' then e.amount else 0 end as debit,
        case when e.direction = 'credit' then e.amount else 0 end as credit,
        r.balance_after
    from entries as e
    inner join running as r using (transaction_id, entry_no)
    left join {{ ref('stg_transactions') }} as t using (transaction_id)
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
        max(line_no) as last_line
    from lines
    group by period, account, currency
),

all_lines as (
    select
        period, account, currency, normal_balance, 0 as line_no, 'opening' as line_type, 'Opening balance' as description,
        cast(null as bigint) as debit, cast(null as bigint) as credit, opening_balance as balance
    from sections

    union all by name
    select
        period, account, currency, normal_balance, line_no, 'entry' as line_type, description, debit, credit,
        balance_after as balance, entry_seq, posting_date, posting_at, effective_at, effective_date, transaction_id,
        entry_no, event_type, reference, subscription_id, customer_id, direction, signed_amount
    from lines

    union all by name
    select
        period, account, currency, normal_balance, last_line + 1 as line_no, 'closing' as line_type,
        'Closing balance' as description, period_debits as debit, period_credits as credit, closing_balance as balance
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
    l.effective_date,
    l.transaction_id,
    l.entry_no,
    l.event_type,
    l.reference,
    l.description,
    cast(l.debit as bigint) as debit,
    cast(l.credit as bigint) as credit,
    cast(l.balance as bigint) as balance,
    cast(l.entry_seq as bigint) as entry_seq,
    l.direction,
    cast(l.signed_amount as bigint) as signed_amount,
    l.subscription_id,
    l.customer_id
from all_lines as l
inner join {{ ref('int_report_dates') }} as d using (period)
