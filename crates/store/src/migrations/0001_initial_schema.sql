-- 1 initial schema
CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    password_hash TEXT,
    boot_policy TEXT NOT NULL,
    registration TEXT,
    boot TEXT,
    booted_at TIMESTAMPTZ,
    protocol TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ
);

CREATE TABLE connectors (
    station_id TEXT NOT NULL,
    evse_id BIGINT NOT NULL,
    connector_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    info TEXT,
    vendor_id TEXT,
    vendor_error_code TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, evse_id, connector_id)
);

CREATE TABLE id_tokens (
    token_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    id_token TEXT NOT NULL,
    status TEXT NOT NULL,
    group_id_token TEXT,
    expiry_date TIMESTAMPTZ,
    PRIMARY KEY (token_key, kind)
);

CREATE TABLE transactions (
    id BIGSERIAL PRIMARY KEY,
    station_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    csms_number BIGINT UNIQUE,
    evse_id BIGINT,
    connector_id BIGINT,
    id_token TEXT,
    started_at TIMESTAMPTZ,
    stopped_at TIMESTAMPTZ,
    meter_start_wh DOUBLE PRECISION,
    meter_stop_wh DOUBLE PRECISION,
    energy_wh DOUBLE PRECISION,
    stop_reason TEXT,
    charging_state TEXT,
    fold TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (station_id, transaction_id)
);
CREATE INDEX transactions_newest ON transactions (started_at DESC, id DESC);
CREATE INDEX transactions_station_newest ON transactions (station_id, started_at DESC, id DESC);

CREATE TABLE transaction_events (
    id BIGSERIAL PRIMARY KEY,
    station_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    seq_no BIGINT,
    kind TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    trigger_reason TEXT,
    offline BOOLEAN NOT NULL,
    event TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX transaction_events_seq ON transaction_events (station_id, transaction_id, seq_no)
    WHERE seq_no IS NOT NULL;
CREATE UNIQUE INDEX transaction_events_noseq ON transaction_events (station_id, transaction_id, kind, timestamp)
    WHERE seq_no IS NULL;

CREATE TABLE meter_values (
    id BIGSERIAL PRIMARY KEY,
    station_id TEXT NOT NULL,
    evse_id BIGINT NOT NULL,
    transaction_id TEXT,
    timestamp TIMESTAMPTZ NOT NULL,
    samples TEXT NOT NULL,
    digest BIGINT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX meter_values_once ON meter_values (station_id, evse_id, timestamp, digest);
CREATE INDEX meter_values_transaction ON meter_values (station_id, transaction_id);

CREATE TABLE notices (
    id BIGSERIAL PRIMARY KEY,
    station_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    request_id BIGINT,
    status TEXT,
    details TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX notices_station ON notices (station_id, id);

CREATE TABLE frames (
    id BIGSERIAL PRIMARY KEY,
    station_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX frames_station ON frames (station_id, id);
CREATE INDEX frames_at ON frames (at);

CREATE TABLE api_tokens (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
