-- depends: 0003_ledger_guards
--
-- Privileges (invariant I7): the writer inserts ledger rows and moves lifecycles through column
-- grants that leave system columns (created_at, created_xid, changed_xid, status_changed_at,
-- lock_version) to the database; it never updates or deletes ledger rows. The reader reads.

REVOKE ALL ON ALL TABLES IN SCHEMA ledger FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ledger FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.is_valid_account_code(text), ledger.account_id_of(text)
    TO subledger_writer, subledger_reader;

GRANT SELECT ON ledger.account_types, ledger.accounts, ledger.transactions, ledger.entries,
                ledger.balances, ledger.categories, ledger.category_members, ledger.audit_log
    TO subledger_reader, subledger_writer;

GRANT INSERT (account_id, code, normal_balance, currency, metadata) ON ledger.accounts TO subledger_writer;
GRANT UPDATE (metadata) ON ledger.accounts TO subledger_writer;

GRANT INSERT (transaction_id, idempotency_key, status, effective_at, posted_at, reverses_transaction_id,
              reference, source_event_id, source_event_type, batch_id, content_hash, description,
              metadata, source)
    ON ledger.transactions TO subledger_writer;
GRANT UPDATE (status, posted_at, archived_at, transition_key, transition_hash) ON ledger.transactions TO subledger_writer;

GRANT INSERT ON ledger.entries TO subledger_writer;

GRANT INSERT (action, target_type, target_id, before, after, reason, batch_id) ON ledger.audit_log TO subledger_writer;

GRANT INSERT (code, kind, parent_code, normal_balance, description) ON ledger.categories TO subledger_writer;
GRANT UPDATE (parent_code, normal_balance, description) ON ledger.categories TO subledger_writer;
GRANT INSERT (category_code, account_id), DELETE ON ledger.category_members TO subledger_writer;
