{#- A one-row model (e.g. the report calendar's bounds): fails with the row count if there are more. -#}
{% test at_most_one_row(model) %}
select count(*) as row_count from {{ model }} having count(*) > 1
{% endtest %}
