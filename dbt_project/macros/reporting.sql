{#- Helpers shared by the models. Dates are days in the reporting time zone, computed once by the
    warehouse's mirror (analytics.transactions/entries: effective_date, posted_date, archived_date,
    posting_date; docs/architecture.md "Where each rule lives"): no model converts an instant to a
    day itself. -#}

{#- A month as 'YYYY-MM' (the `period` of every report). -#}
{% macro period_of(day) -%}
    strftime({{ day }}, '%Y-%m')
{%- endmacro %}

{#- The last day the reports cover: var('report_date') or NULL (then: the last day the account
    snapshots were built through, warehouse_meta.builds). -#}
{% macro report_date_literal() -%}
    {%- set value = var('report_date', none) -%}
    {%- if value is none or value == '' -%}
        cast(null as date)
    {%- else -%}
        cast('{{ value }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- `<prefix>:` escaped for LIKE (account codes may contain _ and %). -#}
{% macro starts_with_prefix(column, prefix) -%}
    starts_with({{ column }}, '{{ prefix | replace("'", "''") }}:')
{%- endmacro %}

{#- The rest of an account code after `<prefix>:` (e.g. the subscription id). -#}
{% macro after_prefix(column, prefix) -%}
    substr({{ column }}, {{ prefix | length + 2 }})
{%- endmacro %}

{#- The report period ('YYYY-MM') of a day, given the one-row int_report_bounds as `bounds`
    (left-joined: NULL when there is nothing to report yet): NULL after the last report day; the
    first period for days before it. -#}
{% macro report_period(day, bounds='bounds') -%}
    case
        when {{ bounds }}.last_day is null or {{ day }} > {{ bounds }}.last_day then null
        when {{ day }} < {{ bounds }}.first_period_start then {{ bounds }}.first_period
        else {{ period_of(day) }}
    end
{%- endmacro %}

{#- The first day of the fiscal year a day falls in (var fiscal_year_start_month, default 1:
    calendar years). Year-to-date columns sum from that day. -#}
{% macro fiscal_year_start(day) -%}
    {%- set month = var('fiscal_year_start_month', 1) | int -%}
    case
        when month({{ day }}) >= {{ month }} then make_date(year({{ day }}), {{ month }}, 1)
        else make_date(year({{ day }}) - 1, {{ month }}, 1)
    end
{%- endmacro %}

{#- A statement line's caption from a category code: its last segment with underscores as
    spaces and the first letter capitalised ('assets:cash:in_transit' -> 'In transit'). -#}
{% macro category_caption(category) -%}
    (upper(left(replace(split_part({{ category }}, ':', -1), '_', ' '), 1))
        || substr(replace(split_part({{ category }}, ':', -1), '_', ' '), 2))
{%- endmacro %}

{#- The top-level segments whose categories make the income statement (the rest are the balance
    sheet's). -#}
{% macro income_segments() -%}
    ('revenue', 'income', 'expenses')
{%- endmacro %}
