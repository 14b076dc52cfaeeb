{#- A row-level identity (e.g. balance = debits - credits for a debit-normal account). -#}
{% test expression_is_true(model, expression) %}
select * from {{ model }} where not coalesce(({{ expression }}), false)
{% endtest %}
