-- Coffer value store, PostgreSQL. Never edit a committed migration: add a new one.
-- A value is found only by its random 32-byte pointer; the store knows neither what it is nor
-- whose. `data_key_id` names the server data key the value is encrypted under (for re-wrap).

CREATE TABLE stored_values (
    pointer     BYTEA NOT NULL PRIMARY KEY CHECK (length(pointer) = 32),
    data_key_id BYTEA NOT NULL CHECK (length(data_key_id) = 16),
    data        BYTEA NOT NULL
);
CREATE INDEX stored_values_by_key ON stored_values (data_key_id, pointer);
