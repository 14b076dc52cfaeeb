{#- Amounts recorded as reductions (contraction, churn) are never positive. -#}
{% test not_positive(model, column_name) %}
select * from {{ model }} where {{ column_name }} > 0
{% endtest %}
