{#- Models go to exactly the schema they configure (`reports`, `reports_staging`, ...), not
    dbt's default `<target schema>_<custom schema>`: finance reads `reports.trial_balance`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
