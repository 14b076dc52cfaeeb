-- ledger.chain_link_hash(...): the hash of one link of the chain (I15): sha256 of the previous
-- link's hash, the link's header (number, xid range, record counts) and its record digests in
-- record order. The first link's previous hash is 32 zero bytes. Used by ledger.seal_chain to seal
-- and by `subledger verify` (sql/ledger/chain_verify.sql) to recompute.
CREATE OR REPLACE FUNCTION ledger.chain_link_hash(
    p_prev_hash bytea, p_link_no bigint, p_from_xid xid8, p_upto_xid xid8,
    p_transactions integer, p_moves integer, p_audit_rows integer, p_record_digests bytea
) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT sha256(p_prev_hash
                  || convert_to(jsonb_build_array(p_link_no, p_from_xid::text, p_upto_xid::text,
                                                  p_transactions, p_moves, p_audit_rows)::text, 'UTF8')
                  || p_record_digests)
$$;

REVOKE ALL ON FUNCTION ledger.chain_link_hash(bytea, bigint, xid8, xid8, integer, integer, integer, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.chain_link_hash(bytea, bigint, xid8, xid8, integer, integer, integer, bytea)
    TO subledger_reader, subledger_writer;
