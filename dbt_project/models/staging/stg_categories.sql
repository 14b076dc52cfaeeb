{{ config(materialized='view') }}
-- Categories with their depth: 1 for a top-level segment (`assets`), 2 for `assets:receivables`...
select
    category,
    kind,
    parent_category,
    normal_balance,
    split_part(category, ':', 1) as top_segment,
    len(string_split(category, ':')) as depth
from {{ source('analytics', 'categories') }}
