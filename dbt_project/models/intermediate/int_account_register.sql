-- Every posted entry of every account in the order it started to count in posted balances
-- (posting time, then effective time, transaction, entry), numbered per account and currency
-- (`line_no`) and with the account's posted balance after it (`balance_after`, signed by the
-- account's normal balance). An entry is in the period of its posting day, so a payment initiated
-- in January and settled in February is in February and a closed month's lines never change.
-- The general ledger and the subscription statements are read from here.
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
        row_number() over w as line_no,
        cast(sum(signed_amount) over w as bigint) as balance_after
    from entries
    window w as (
        partition by account, currency
        order by posting_at, effective_at, transaction_id, entry_no
        rows between unbounded preceding and current row
    )
)

select
    e.period,
    e.posting_date,
    e.account,
    e.normal_balance,
    e.currency,
    r.line_no,
    e.transaction_id,
    e.entry_no,
    e.effective_at,
    e.effective_date,
    e.posting_at,
    e.event_type,
    e.reference,
    t.description,
    e.subscription_id,
    e.customer_id,
    e.direction,
    case when e.direction = 'debit' then e.amount else 0 end as debit,
    case when e.direction = 'credit' then e.amount else 0 end as credit,
    e.signed_amount,
    r.balance_after
from entries as e
inner join running as r using (transaction_id, entry_no)
left join {{ ref('stg_transactions') }} as t using (transaction_id)
