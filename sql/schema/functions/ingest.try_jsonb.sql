-- ingest.try_jsonb(text): the text as jsonb, or NULL when it is not JSON (the queue reads keys from
-- rows validation has not seen yet).
CREATE OR REPLACE FUNCTION ingest.try_jsonb(p_text text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN p_text::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;  -- not JSON: validation quarantines the event; its order key falls back to its id
END $$;
