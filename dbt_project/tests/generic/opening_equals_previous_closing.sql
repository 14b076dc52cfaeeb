{#- Continuity of a roll-forward: each row's opening is the previous row's closing within the
    partition (the first row opens at 0). -#}
{% test opening_equals_previous_closing(model, opening, closing, partition_by, order_by) %}
select *
from (
    select
        *,
        coalesce(lag({{ closing }}) over (partition by {{ partition_by | join(', ') }} order by {{ order_by }}), 0)
            as expected_opening
    from {{ model }}
)
where {{ opening }} <> expected_opening
{% endtest %}
