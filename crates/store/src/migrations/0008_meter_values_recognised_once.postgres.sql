-- 8 meter values recognised once: a meter value sent again (a retry after a restart, a 1.6
-- StopTransaction repeated with its transactionData) is recognised by its station, transaction
-- (or EVSE, outside a transaction), time and a digest of its samples, and kept once. The index
-- of a transaction's values becomes the unique one, so values of transactions cost no index
-- more than before; values outside a transaction get one of their own, led by the time, so
-- that inserts (stamped about now) land at its end rather than at one page per station.
ALTER TABLE meter_values ADD COLUMN digest BIGINT;
DROP INDEX meter_values_transaction;
CREATE UNIQUE INDEX meter_values_once ON meter_values (station_id, transaction_id, timestamp, digest)
    WHERE transaction_id IS NOT NULL;
CREATE UNIQUE INDEX meter_values_once_outside ON meter_values (timestamp, station_id, evse_id, digest)
    WHERE transaction_id IS NULL;
