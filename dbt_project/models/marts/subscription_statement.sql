-- Subscription statement: every posted entry of a subscription's accounts
-- (`assets:receivables:<subscription_id>` and `liabilities:customer_credits:<subscription_id>`)
-- in the order it started to count (posting time, then effective time, transaction, entry), with
-- the account's posted balance after it (signed by the account's normal balance): the general
-- ledger's entry lines of those accounts, numbered over the account's history. An entry is listed in the month of its
-- posting day: a payment initiated in January and settled in February appears in February, so a
-- closed month's statement never changes. Pending and failed payments are not booked entries (see
-- cash_position and failed_payments).
{% set receivables = var('receivables_prefix') %}
{% set credits = var('customer_credits_prefix') %}
with lines as (
    select
        *,
        case when {{ starts_with_prefix('account', receivables) }} then 'receivables' else 'customer_credits' end
            as account_kind,
        case
            when {{ starts_with_prefix('account', receivables) }} then {{ after_prefix('account', receivables) }}
            else {{ after_prefix('account', credits) }}
        end as account_subscription_id
    from {{ ref('general_ledger') }}
    where line_type = 'entry'
        and ({{ starts_with_prefix('account', receivables) }} or {{ starts_with_prefix('account', credits) }})
)

select
    l.period,
    l.posting_date,
    l.account_subscription_id as subscription_id,
    coalesce(c.customer_id, l.customer_id) as customer_id,
    l.account,
    l.account_kind,
    l.currency,
    l.entry_seq as line_no,
    l.transaction_id,
    l.entry_no,
    l.effective_at,
    l.effective_date,
    l.posting_at,
    l.event_type,
    l.reference,
    l.description,
    l.direction,
    l.debit,
    l.credit,
    l.signed_amount,
    l.balance as balance_after
from lines as l
left join {{ ref('int_subscription_customers') }} as c on c.subscription_id = l.account_subscription_id
