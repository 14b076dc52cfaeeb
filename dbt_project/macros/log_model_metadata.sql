{#-
  Post-hook of every model: tells Dagster, while the build runs, what the model just built holds.
  The warehouse file has one writer at a time and dbt is it for the whole build, so Dagster cannot
  read the tables until dbt exits; the model reports them itself, in the two forms dagster-dbt reads
  from dbt's event stream (only when dagster-dbt runs dbt, DAGSTER_DBT_CLI=true):
    * its columns and types, as the JSON log line dagster-dbt attaches to the model's event
      (its own `log_column_level_metadata` convention: {"columns": {name: {"data_type": ...}}});
    * for a table, its row count, as the line `subledger row_count <n>` that
      ledger_pipelines/defs/reports/assets.py reads (views are not counted: that would run them).
-#}
{% macro log_model_metadata() %}
    {%- if execute and env_var('DAGSTER_DBT_CLI', '') == 'true' -%}
        {%- set column_schema = {} -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do column_schema.update({column.name: {'data_type': column.data_type}}) -%}
        {%- endfor -%}
        {%- do log(tojson({'columns': column_schema}), info=true) -%}
        {%- if config.get('materialized') == 'table' -%}
            {%- set counted = run_query('select count(*) from ' ~ this) -%}
            {%- do log('subledger row_count ' ~ counted.columns[0].values()[0], info=true) -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
