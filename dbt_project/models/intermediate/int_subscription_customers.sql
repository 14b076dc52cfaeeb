-- The customer of each subscription: the customer_id of its latest event that names one.
select
    subscription_id,
    first(customer_id order by effective_at desc, transaction_id desc) as customer_id
from {{ ref('stg_transactions') }}
where subscription_id is not null and customer_id is not null
group by subscription_id
