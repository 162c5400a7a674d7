-- 6 the device model: the latest known attribute of each variable of each station (absent
-- instances and EVSEs are '' and -1, so that the key is unique)
CREATE TABLE device_variables (
    station_id TEXT NOT NULL,
    component TEXT NOT NULL,
    component_instance TEXT NOT NULL,
    evse_id BIGINT NOT NULL,
    connector_id BIGINT NOT NULL,
    variable TEXT NOT NULL,
    variable_instance TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value TEXT,
    mutability TEXT,
    characteristics TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, component, component_instance, evse_id, connector_id, variable, variable_instance, attribute)
);
