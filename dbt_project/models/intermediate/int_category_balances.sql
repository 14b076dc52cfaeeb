-- Balances of the path categories (code prefixes) down to var('statement_depth') levels at each
-- report date; the balance sheet and income statement are built from these.
{{ balances_at_report_dates(
    ref('stg_category_balance_snapshots'),
    'category',
    "category in (select category from " ~ ref('stg_categories') ~ " where kind = 'path' and depth <= " ~ var('statement_depth') ~ ")"
) }}
