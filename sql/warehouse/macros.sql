-- DuckDB macros of the warehouse: the one SQL definition of the rules its queries need, each the
-- same rule as a module of ledger_pipelines/accounting (proved equal on random data by
-- tests/unit/accounting/test_pairs.py). Created (or replaced) every time the work file is opened;
-- they travel with the published file.

-- Whether a row written by Postgres transaction `xid` was visible in the snapshot
-- xmin:xmax:xip (docs/warehouse.md, "Mirror and watermark"): committed before the snapshot.
CREATE OR REPLACE MACRO xid_visible(xid, snap_xmin, snap_xmax, snap_xip) AS
    xid < snap_xmin OR (xid < snap_xmax AND NOT list_contains(CAST(snap_xip AS UBIGINT[]), xid));

-- Balances (accounting/balances.py): posted, pending and available from the four cumulative sums
-- (posted debits pd, posted credits pc, pending debits qd, pending credits qc) and the normal balance.
CREATE OR REPLACE MACRO signed_posted(normal, pd, pc, qd, qc) AS
    CASE WHEN normal = 'debit' THEN pd - pc ELSE pc - pd END;
CREATE OR REPLACE MACRO signed_pending(normal, pd, pc, qd, qc) AS
    signed_posted(normal, pd, pc, qd, qc) + CASE WHEN normal = 'debit' THEN qd - qc ELSE qc - qd END;
CREATE OR REPLACE MACRO signed_available(normal, pd, pc, qd, qc) AS
    signed_posted(normal, pd, pc, qd, qc) - CASE WHEN normal = 'debit' THEN qc ELSE qd END;
-- The state at `instant` (or day) of an entry of a transaction that is `status` now, posted at
-- `posted_at` or archived at `archived_at` (docs/architecture.md, "Balance definitions"): 'posted'
-- if posted by then, 'archived' if archived by then (it counts nowhere), else 'pending'. Whether it
-- counts at all (effective by then) stays with the caller. The Postgres definition is the function
-- ledger.entry_state (pair test: tests/ledger/test_rule_pairs.py).
CREATE OR REPLACE MACRO entry_state(status, posted_at, archived_at, instant) AS
    CASE WHEN status = 'posted' AND posted_at <= instant THEN 'posted'
         WHEN status = 'archived' AND archived_at <= instant THEN 'archived'
         ELSE 'pending' END;

-- Debits and credits (one entry's, or sums) signed by a normal balance: positive when they increase it.
CREATE OR REPLACE MACRO signed_amount(normal, debits, credits) AS signed_posted(normal, debits, credits, 0, 0);
-- One entry's amount signed by its account's normal balance.
CREATE OR REPLACE MACRO signed_entry(normal, direction, amount) AS
    CASE WHEN direction = 'debit' THEN signed_amount(normal, amount, 0) ELSE signed_amount(normal, 0, amount) END;

-- The reporting calendar (accounting/calendar.py). An instant's day in zone `tz`:
CREATE OR REPLACE MACRO local_day(ts, tz) AS CAST(timezone(tz, ts) AS DATE);
-- The UTC offset in force at instant `ts` in `tz`.
CREATE OR REPLACE MACRO utc_offset(ts, tz) AS timezone(tz, ts) - timezone('UTC', ts);
-- A day starts at local midnight minus the offset in force just before it: when the clock skips
-- midnight, at the instant it jumps; when midnight happens twice, at the first. DuckDB reads a
-- repeated wall time as its second occurrence (`icu`), so the first is tried too: midnight minus
-- the offset in force just before `icu`, when that instant is also at local midnight.
CREATE OR REPLACE MACRO day_start_from(midnight, icu, tz) AS
    CASE WHEN timezone(tz, timezone('UTC', midnight - utc_offset(icu - INTERVAL 1 MICROSECOND, tz))) = midnight
         THEN least(icu, timezone('UTC', midnight - utc_offset(icu - INTERVAL 1 MICROSECOND, tz)))
         ELSE icu END;
CREATE OR REPLACE MACRO day_start(day, tz) AS
    day_start_from(CAST(day AS TIMESTAMP), timezone(tz, CAST(day AS TIMESTAMP)), tz);
-- A day ends one microsecond before the next day starts.
CREATE OR REPLACE MACRO day_end(day, tz) AS day_start(day + 1, tz) - INTERVAL 1 MICROSECOND;
-- Days before the start date (SUBLEDGER_START_DATE) count on the start date.
CREATE OR REPLACE MACRO fold_to_start(day, start) AS greatest(day, start);
-- A date field of an event payload: a bare date as written; a timestamp with an offset as its day
-- in `tz`; one without an offset as the date it names.
CREATE OR REPLACE MACRO payload_day(text, tz) AS
    CASE WHEN length(text) = 10 THEN TRY_CAST(text AS DATE)
         WHEN regexp_matches(text, '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$') THEN local_day(TRY_CAST(text AS TIMESTAMPTZ), tz)
         ELSE CAST(TRY_CAST(text AS TIMESTAMP) AS DATE) END;

-- What the mirror computes once per transaction for the reports (docs/warehouse.md, "Tables"):
-- its days in the reporting time zone `tz`, when it started to count as posted, and the business
-- fields of its source event (the `source` document: {"subscription_id", "customer_id", "amount",
-- "currency", "payload": {...}, "recorded_at"}; event metadata) and of the posting rules'
-- references ('payment:<id>'). Each JSON document is parsed once (DuckDB evaluates the repeated
-- json_transform of a macro argument once).
CREATE OR REPLACE MACRO source_document(source) AS json_transform(source, '{
    "subscription_id": "VARCHAR", "customer_id": "VARCHAR", "amount": "VARCHAR", "currency": "VARCHAR",
    "payload": {"invoice_id": "VARCHAR", "plan_id": "VARCHAR", "payment_id": "VARCHAR", "credit_id": "VARCHAR",
                "period_start": "VARCHAR", "period_end": "VARCHAR", "reason": "VARCHAR"}}');
CREATE OR REPLACE MACRO metadata_document(metadata) AS
    json_transform(metadata, '{"failure_reason": "VARCHAR", "reason": "VARCHAR", "region": "VARCHAR"}');
CREATE OR REPLACE MACRO transaction_fields_of(status, effective_at, posted_at, reference, event_type, archived_at, s, m, tz) AS
    struct_pack(
        effective_date := local_day(effective_at, tz),
        posted_date := local_day(posted_at, tz),
        archived_date := local_day(archived_at, tz),
        -- its entries count in posted balances from the later of their effective time and its posting
        posting_at := CASE WHEN status = 'posted' THEN greatest(effective_at, posted_at) END,
        posting_date := CASE WHEN status = 'posted' THEN local_day(greatest(effective_at, posted_at), tz) END,
        subscription_id := s.subscription_id,
        customer_id := s.customer_id,
        source_amount := TRY_CAST(s.amount AS BIGINT),
        source_currency := s.currency,
        invoice_id := s.payload.invoice_id,
        plan_id := s.payload.plan_id,
        payment_id := coalesce(s.payload.payment_id, CASE WHEN starts_with(reference, 'payment:') THEN substr(reference, 9) END),
        is_payment := coalesce(event_type = 'payment.initiated' OR starts_with(reference, 'payment:'), false),
        credit_id := s.payload.credit_id,
        period_start := payload_day(s.payload.period_start, tz),
        period_end := payload_day(s.payload.period_end, tz),
        reason := coalesce(m.failure_reason, s.payload.reason, m.reason),
        region := m.region
    );
CREATE OR REPLACE MACRO transaction_fields(status, effective_at, posted_at, archived_at, reference, event_type, metadata, source, tz) AS
    transaction_fields_of(status, effective_at, posted_at, reference, event_type, archived_at,
                          source_document(source), metadata_document(metadata), tz);
