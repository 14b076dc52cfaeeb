{#- Double entry: within each group (e.g. as_of_date and currency) the debits add up to the
    credits. Returns the groups that do not balance, with the difference. -#}
{% test debits_equal_credits(model, group_by, debit_column='debits', credit_column='credits') %}
select
    {{ group_by | join(', ') }},
    sum({{ debit_column }}) as total_debits,
    sum({{ credit_column }}) as total_credits,
    sum({{ debit_column }}) - sum({{ credit_column }}) as difference
from {{ model }}
group by {{ group_by | join(', ') }}
having sum({{ debit_column }}) <> sum({{ credit_column }})
{% endtest %}
