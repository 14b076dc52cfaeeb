-- Cash flows by the direct method, per report period, currency and counterpart category. Cash is
-- var('cash_account') and its sub-accounts (settled cash and cash in transit, as the balance
-- sheet's cash line). In a transaction that touches cash, every other leg is where cash came from
-- or went to: as the transaction balances, the change of cash equals the sum over its non-cash
-- legs of (credit - debit). So a settled payment (receivables credited) is a receipt from a
-- customer, a refund (revenue:refunds debited) a payment to one, a payout's fee (expenses debited)
-- a payment to the provider, and a move between cash accounts no flow at all. Counted on the day
-- the entries count in posted balances (int_posted_entries), grouped by the counterpart's
-- category down to var('statement_depth') levels.
{% set cash = var('cash_account') %}
with entries as (
    select
        *,
        (account = '{{ cash }}' or {{ starts_with_prefix('account', cash) }}) as is_cash
    from {{ ref('int_posted_entries') }}
    where period is not null
),

touching_cash as (
    select distinct transaction_id from entries where is_cash
)

select
    e.period,
    e.currency,
    array_to_string(string_split(e.account, ':')[1:{{ var('statement_depth') }}], ':') as category,
    split_part(e.account, ':', 1) as top_segment,
    cast(sum(case when e.direction = 'credit' then e.amount else -e.amount end) as bigint) as amount
from entries as e
semi join touching_cash using (transaction_id)
where not e.is_cash
group by all
