-- 2 the frame log in batches: one row per station per flush
DROP TABLE frames;
CREATE TABLE frame_log (
    id BIGSERIAL PRIMARY KEY,
    station_id TEXT NOT NULL,
    first_at TIMESTAMPTZ NOT NULL,
    last_at TIMESTAMPTZ NOT NULL,
    count BIGINT NOT NULL,
    frames TEXT NOT NULL
);
CREATE INDEX frame_log_station ON frame_log (station_id, id);
CREATE INDEX frame_log_last ON frame_log (last_at);
