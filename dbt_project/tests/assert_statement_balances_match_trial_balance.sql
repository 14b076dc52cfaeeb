{{ config(meta={'dagster': {'ref': {'name': 'subscription_statement'}}}) }}
-- At every report date, the balance after a subscription account's last statement line up to
-- that date equals the account's balance in the trial balance (and no statement account is
-- missing from it).
{% set receivables = var('receivables_prefix') %}
{% set credits = var('customer_credits_prefix') %}
with tb as (
    select as_of_date, account, currency, balance
    from {{ ref('trial_balance') }}
    where {{ starts_with_prefix('account', receivables) }} or {{ starts_with_prefix('account', credits) }}
),

-- the balance after each account's last line of a day
daily as (
    select account, currency, posting_date, arg_max(balance_after, line_no) as balance_after
    from {{ ref('subscription_statement') }}
    group by all
),

compared as (
    select tb.as_of_date, tb.account, tb.currency, tb.balance, coalesce(s.balance_after, 0) as statement_balance
    from tb
    asof left join daily as s
        on s.account = tb.account and s.currency = tb.currency and tb.as_of_date >= s.posting_date
),

missing as (
    select distinct s.account, s.currency
    from {{ ref('subscription_statement') }} as s
    anti join tb using (account, currency)
)

select as_of_date, account, currency, balance, statement_balance from compared where balance <> statement_balance
union all
select null, account, currency, null, null from missing
