-- ledger.entry_partition_name(at): the name (in schema ledger_partitions) of the monthly partition
-- of ledger.entries that holds the instant `at`: entries_YYYY_MM of its UTC month, with _bc for
-- a month before year 1. The one spelling of it: ledger.ensure_entry_partitions makes the
-- partitions under it, ledger.post_transaction looks one up before calling that function.
-- SQL, so the planner inlines it into the calling statement. In this file, so that every caller
-- that applies this file (migration 0007) has it.
CREATE OR REPLACE FUNCTION ledger.entry_partition_name(p_at timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT 'entries_' || pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY_MM')
           || CASE WHEN p_at AT TIME ZONE 'UTC' < '0001-01-01'::timestamp THEN '_bc' ELSE '' END
$$;

REVOKE ALL ON FUNCTION ledger.entry_partition_name(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.entry_partition_name(timestamptz) TO subledger_writer, subledger_reader;

-- ledger.ensure_entry_partitions(from_at, to_at): the monthly partitions of ledger.entries (UTC
-- months, ledger_partitions.entries_YYYY_MM) covering [from_at, to_at] exist afterwards; returns
-- how many it made. Keeps, for every partition it makes:
--   I2  no TRUNCATE of the partition by any role (statement triggers on the parent do not fire
--       for a partition truncated by name, so each partition gets its own); UPDATE and DELETE are
--       refused by the parent's row trigger entries_are_immutable, which every partition inherits;
--   I7  the partition is the owner's, in schema ledger_partitions, where no other role has USAGE:
--       the writer cannot write, truncate, attach or detach it, only insert through ledger.entries.
-- Called ahead of need by every migrate (sql/ledger/ensure_entry_partitions_ahead.sql) and on
-- demand, for the months of every inserted transaction, by transactions_after_insert: a
-- transaction's entries are inserted after it in its database transaction (I5), so their month
-- exists by then, whatever path inserts them (bulk COPY, Ledger.post, raw SQL as the writer).
-- With ledger.entry_partitioning.hash_partitions = N > 1, every month made from then on is itself
-- split into N hash partitions by transaction_id (entries_YYYY_MM_hK), the local equivalent of
-- distributing entries by transaction_id (docs/scale-out.md); each gets the same TRUNCATE trigger.
-- Cheap when the partitions exist: one catalog lookup per month, no lock. Making one takes SHARE
-- UPDATE EXCLUSIVE on ledger.entries until commit (ATTACH PARTITION's lock: concurrent inserts
-- and reads go on; two makers queue) and creates the table empty and attaches it, never
-- CREATE TABLE ... PARTITION OF, whose ACCESS EXCLUSIVE lock would stop every writer.
CREATE OR REPLACE FUNCTION ledger.ensure_entry_partitions(from_at timestamptz, to_at timestamptz) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog SET TimeZone = 'UTC' AS $$
DECLARE
    month timestamptz;
    part text;
    ways integer;
    tables text[];
    made_table text;
    made integer := 0;
BEGIN
    IF from_at IS NULL OR to_at IS NULL OR NOT isfinite(from_at) OR NOT isfinite(to_at) THEN
        RAISE EXCEPTION USING
            ERRCODE = '22007',
            MESSAGE = format('ledger entries need a finite effective time, not %s .. %s', from_at, to_at),
            HINT = 'Give the transaction a real effective_at (a date and time, not infinity).';
    END IF;
    IF to_at < from_at OR to_at >= from_at + interval '10 years' THEN
        RAISE EXCEPTION USING
            ERRCODE = '22023',
            MESSAGE = format('ledger.ensure_entry_partitions(%s, %s): give a range of at most ten years, from the earlier time',
                             from_at, to_at),
            HINT = 'Entries partitions are made per month; call it once per range of months that is needed.';
    END IF;
    FOR month IN SELECT generate_series(date_trunc('month', from_at), date_trunc('month', to_at), interval '1 month') LOOP
        part := ledger.entry_partition_name(month);
        CONTINUE WHEN to_regclass(format('ledger_partitions.%I', part)) IS NOT NULL;
        -- Serialise makers; a relation lock also refreshes the catalog, so a partition another
        -- maker committed while this one waited is seen below.
        LOCK TABLE ledger.entries IN SHARE UPDATE EXCLUSIVE MODE;
        CONTINUE WHEN to_regclass(format('ledger_partitions.%I', part)) IS NOT NULL;
        SELECT p.hash_partitions INTO ways FROM ledger.entry_partitioning p;
        tables := ARRAY[part];
        EXECUTE format('CREATE TABLE ledger_partitions.%I (LIKE ledger.entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)%s',
                       part, CASE WHEN ways > 1 THEN ' PARTITION BY HASH (transaction_id)' ELSE '' END);
        FOR i IN 0 .. ways - 1 LOOP
            EXIT WHEN ways = 1;
            tables := tables || (part || '_h' || i);
            EXECUTE format('CREATE TABLE ledger_partitions.%I PARTITION OF ledger_partitions.%I '
                           'FOR VALUES WITH (MODULUS %s, REMAINDER %s)', part || '_h' || i, part, ways, i);
        END LOOP;
        EXECUTE format('ALTER TABLE ledger.entries ATTACH PARTITION ledger_partitions.%I FOR VALUES FROM (%L) TO (%L)',
                       part, month, month + interval '1 month');
        FOREACH made_table IN ARRAY tables LOOP
            EXECUTE format('CREATE TRIGGER entries_are_not_truncated BEFORE TRUNCATE ON ledger_partitions.%I '
                           'FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change(%L, %L)', made_table,
                           'LDG02', 'To correct a posting, reverse its transaction and post a new one.');
        END LOOP;
        made := made + 1;
    END LOOP;
    RETURN made;
END
$$;

REVOKE ALL ON FUNCTION ledger.ensure_entry_partitions(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.ensure_entry_partitions(timestamptz, timestamptz) TO subledger_writer;
