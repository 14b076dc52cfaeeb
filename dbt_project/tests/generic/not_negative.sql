{#- Amounts that cannot be negative (sums of debits or credits, open invoice amounts, ...). -#}
{% test not_negative(model, column_name) %}
select * from {{ model }} where {{ column_name }} < 0
{% endtest %}
