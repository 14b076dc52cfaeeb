-- SUBLEDGER_TIMEZONE changed since the entries were mirrored: recompute their dates.
UPDATE analytics.entries SET effective_date = local_day(effective_at, $tz)
