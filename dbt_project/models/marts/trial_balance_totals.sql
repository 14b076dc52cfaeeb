-- The trial balance's totals per report date and currency: how many accounts, the cumulative
-- posted debits and credits, and the accounts' net debit and net credit balances. A ledger in
-- balance has debits = credits and debit_balances = credit_balances in every currency (tested;
-- `difference` is debits - credits, always 0).
select
    period,
    as_of_date,
    is_month_end,
    currency,
    count(*) as accounts,
    cast(sum(debits) as bigint) as debits,
    cast(sum(credits) as bigint) as credits,
    cast(sum(debit_balance) as bigint) as debit_balances,
    cast(sum(credit_balance) as bigint) as credit_balances,
    cast(sum(debits) - sum(credits) as bigint) as difference
from {{ ref('trial_balance') }}
group by period, as_of_date, is_month_end, currency
