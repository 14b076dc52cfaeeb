-- Subscription statement: every posted entry of a subscription's accounts
-- (`assets:receivables:<subscription_id>` and `liabilities:customer_credits:<subscription_id>`)
-- in the order it started to count (posting time, then effective time, transaction, entry), with
-- the account's posted balance after it (signed by the account's normal balance). An entry is
-- listed in the month of its posting day: a payment initiated in January and settled in February
-- appears in February, so a closed month's statement never changes. Pending and failed payments
-- are not booked entries (see cash_position and failed_payments).
{% set receivables = var('receivables_prefix') %}
{% set credits = var('customer_credits_prefix') %}
with entries as (
    select *
    from {{ ref('int_posted_entries') }}
    where ({{ starts_with_prefix('account', receivables) }} or {{ starts_with_prefix('account', credits) }})
        and period is not null
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
),

described as (
    select
        e.*,
        case when {{ starts_with_prefix('e.account', receivables) }} then 'receivables' else 'customer_credits' end
            as account_kind,
        case
            when {{ starts_with_prefix('e.account', receivables) }} then {{ after_prefix('e.account', receivables) }}
            else {{ after_prefix('e.account', credits) }}
        end as account_subscription_id
    from entries as e
)

select
    e.period,
    e.posting_date,
    e.account_subscription_id as subscription_id,
    coalesce(c.customer_id, e.customer_id) as customer_id,
    e.account,
    e.account_kind,
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
    e.direction,
    case when e.direction = 'debit' then e.amount else 0 end as debit,
    case when e.direction = 'credit' then e.amount else 0 end as credit,
    e.signed_amount,
    r.balance_after
from described as e
inner join running as r using (transaction_id, entry_no)
left join {{ ref('int_subscription_customers') }} as c on c.subscription_id = e.account_subscription_id
left join {{ ref('stg_transactions') }} as t using (transaction_id)
