-- ingest.outbox_lane(order_key): the lane (0..63) of an order key; rows of one lane are posted in
-- outbox_id order by one worker at a time (docs/recording-service.md).
CREATE OR REPLACE FUNCTION ingest.outbox_lane(p_order_key text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashtextextended(p_order_key, 0) & 63)::smallint
$$;
