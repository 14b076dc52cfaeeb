-- Why the claim failed; its rows are claimed again (as suspects) after %(retry_after)s.
SELECT ingest.fail_outbox(%(outbox_ids)s::bigint[], %(error)s, %(retry_after)s::interval)
