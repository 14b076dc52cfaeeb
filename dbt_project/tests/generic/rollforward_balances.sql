{#- A roll-forward adds up on every row: opening + additions - subtractions = closing. -#}
{% test rollforward_balances(model, opening, closing, additions=[], subtractions=[]) %}
select *
from {{ model }}
where {{ opening }}
    {%- for column in additions %} + {{ column }}{% endfor %}
    {%- for column in subtractions %} - {{ column }}{% endfor %}
    <> {{ closing }}
{% endtest %}
