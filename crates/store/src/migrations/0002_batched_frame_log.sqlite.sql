-- 2 the frame log in batches: one row per station per flush
DROP TABLE frames;
CREATE TABLE frame_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    count INTEGER NOT NULL,
    frames TEXT NOT NULL
);
CREATE INDEX frame_log_station ON frame_log (station_id, id);
CREATE INDEX frame_log_last ON frame_log (last_at);
