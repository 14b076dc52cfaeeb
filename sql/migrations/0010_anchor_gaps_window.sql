-- depends: 0009_chain_record_format_2
--
-- ledger.anchor_gaps takes the instant from which to read moves (replace_anchors checks only the
-- moves its range can affect, read through transactions_moves_by_time): the two-argument version
-- goes; the three-argument one is its function file, applied after this.

DROP FUNCTION IF EXISTS ledger.anchor_gaps(uuid[], text[]);
