-- 7 transaction revisions and orphans: a transaction's row counts its writes, so a write
-- folded from an older state is merged into the row rather than replacing it; and a row made
-- by a 1.6 message naming a transaction id the CSMS never gave that station is marked as an
-- orphan, kept for review and never merged into a transaction the CSMS starts later
ALTER TABLE transactions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN orphan BOOLEAN NOT NULL DEFAULT FALSE;
