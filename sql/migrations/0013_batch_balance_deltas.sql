-- depends: 0012_derived_lock_version
--
-- ledger.post_many updates each cached balance once per call: its running sums per balance live in
-- ledger.batch_balance_deltas until the call applies them (sql/schema/ledger.sql has the model;
-- functions/ledger.post_many.sql and ledger.post_transaction.sql use it).

CREATE UNLOGGED TABLE IF NOT EXISTS ledger.batch_balance_deltas (
    xid             xid8 NOT NULL,
    account_id      uuid NOT NULL,
    currency        text NOT NULL,
    posted_debits   bigint NOT NULL,
    posted_credits  bigint NOT NULL,
    pending_debits  bigint NOT NULL,
    pending_credits bigint NOT NULL,
    entries         bigint NOT NULL,
    PRIMARY KEY (xid, account_id, currency)
);
