-- depends: 0010_anchor_gaps_window
--
-- A lifecycle event that moved its target (payment.settled, payment.failed, transaction.posted /
-- archived) is recorded in ingest.event_outcomes as 'posted' with the moved transaction, so
-- ingest.events and the recording service answer for it per event, like any other.

ALTER TABLE ingest.event_outcomes DROP CONSTRAINT IF EXISTS event_outcomes_outcome_check;
ALTER TABLE ingest.event_outcomes
    ADD CONSTRAINT event_outcomes_outcome_check CHECK (outcome IN ('posted', 'duplicate', 'quarantined'));
ALTER TABLE ingest.event_outcomes DROP CONSTRAINT IF EXISTS a_move_names_its_transaction;
ALTER TABLE ingest.event_outcomes
    ADD CONSTRAINT a_move_names_its_transaction CHECK (outcome <> 'posted' OR transaction_id IS NOT NULL);
