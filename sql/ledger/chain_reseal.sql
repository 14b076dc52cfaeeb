-- Before the history is sealed again into a new genesis link (ledger/chain.py::reseal_history,
-- after the chain verified): record the old chain's head, then remove its links. The audit row and
-- the DDL audit's rows of the trigger switch are sealed by the next link, so the old head stays
-- comparable with one published before.
INSERT INTO ledger.audit_log (action, target_type, target_id, before)
SELECT 'chain.resealed', 'chain', 'ledger.chain',
       jsonb_build_object('links', count(*), 'sealed_transactions', sum(c.transactions), 'head_link_no', max(c.link_no),
                          'head_link_hash', (SELECT encode(h.link_hash, 'hex') FROM ledger.chain h ORDER BY h.link_no DESC LIMIT 1))
  FROM ledger.chain c;
ALTER TABLE ledger.chain DISABLE TRIGGER chain_is_append_only;
DELETE FROM ledger.chain;
ALTER TABLE ledger.chain ENABLE TRIGGER chain_is_append_only;
