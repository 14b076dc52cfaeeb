-- Entries of posted transactions with the day they started to count in posted balances
-- (`posting_date`, computed once by the warehouse's mirror: the later of the effective day and
-- the posting day, as in the balance definitions) and the report period that day falls in (NULL after the latest
-- report date; entries before the first report period count in the first one, as in the
-- snapshots). Amounts are also given signed by the account's normal balance.
with posted as (
    select
        e.transaction_id,
        e.entry_no,
        e.account,
        e.normal_balance,
        e.direction,
        e.amount,
        signed_entry(e.normal_balance, e.direction, e.amount) as signed_amount,  -- the warehouse's macro
        e.currency,
        e.effective_at,
        e.effective_date,
        t.posting_at,
        t.posting_date,
        t.event_type,
        t.reference,
        t.subscription_id,
        t.customer_id
    from {{ ref('stg_entries') }} as e
    inner join {{ ref('stg_transactions') }} as t using (transaction_id)
    where t.status = 'posted'
)

select posted.*, {{ report_period('posted.posting_date') }} as period
from posted
left join {{ ref('int_report_bounds') }} as bounds on true
