-- 5 records: commands, audit entries and bulk operations, kept as JSON documents with the
-- columns they are looked up by; seq orders them for keyset pagination
CREATE TABLE records (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    station_id TEXT,
    tag TEXT,
    status TEXT,
    at TIMESTAMPTZ NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX records_station ON records (kind, station_id, seq) WHERE station_id IS NOT NULL;
CREATE INDEX records_tag ON records (kind, tag) WHERE tag IS NOT NULL;
CREATE INDEX records_status ON records (kind, status, seq) WHERE status IS NOT NULL;
CREATE INDEX notices_request ON notices (station_id, kind, request_id);
-- transactions are listed newest first by id, so pages stay stable while rows are added
CREATE INDEX transactions_station_seq ON transactions (station_id, id);
