-- 11 charging profiles: those Arus installed (source 'CSMS') and those a station reported as
-- set by others (EMS, SO, Other), per station; a profile's id is unique within its station
-- (K01), the profile itself is kept whole as JSON
CREATE TABLE charging_profiles (
    station_id TEXT NOT NULL,
    profile_id BIGINT NOT NULL,
    evse_id BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    stack_level BIGINT NOT NULL,
    transaction_id TEXT,
    source TEXT NOT NULL,
    profile TEXT NOT NULL,
    installed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, profile_id)
);
-- and what a composite schedule needs of a station: its own maximum (per phase, or in all)
-- and its nominal voltage, as the operator registered them
ALTER TABLE stations ADD COLUMN max_current_a DOUBLE PRECISION;
ALTER TABLE stations ADD COLUMN max_power_w DOUBLE PRECISION;
ALTER TABLE stations ADD COLUMN voltage_v DOUBLE PRECISION;
