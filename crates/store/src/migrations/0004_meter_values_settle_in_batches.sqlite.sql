-- 4 meter values arrive in a table without indexes and move to meter_values, sorted by
-- transaction, a few times a second: an index keyed by transaction takes inserts at one point
-- per charging station, so inserting each value as it came dirtied one index page per value
-- and the write-ahead log grew by a page for every MeterValues message.
CREATE TABLE meter_values_recent (
    id INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL,
    evse_id INTEGER NOT NULL,
    transaction_id TEXT,
    timestamp TEXT NOT NULL,
    samples TEXT NOT NULL,
    received_at TEXT NOT NULL
);
