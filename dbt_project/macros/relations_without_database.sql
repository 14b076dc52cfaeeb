{#- ref() and source() without the database (catalog) name. dbt-duckdb names the catalog after
    the file the build runs in -- the pipeline's private working file -- and the warehouse is
    then published under another name (and finance may ATTACH it under any alias). A view that
    named the build catalog would break there; `schema.table` resolves inside the file's own
    catalog wherever it is opened. Tables are unaffected (their SQL runs at build time). -#}
{% macro ref() %}
    {% do return(builtins.ref(*varargs, **kwargs).include(database=False)) %}
{% endmacro %}

{% macro source() %}
    {% do return(builtins.source(*varargs, **kwargs).include(database=False)) %}
{% endmacro %}
