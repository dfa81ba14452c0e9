-- Coffer value store, PostgreSQL: attachment blobs as ordered segments (at most 1 MiB of
-- plaintext each), every segment sealed under a server data key like any stored value.
-- A blob is found only by its random 32-byte id. The SQLite twin must stay equivalent.

CREATE TABLE blob_segments (
    blob_id     BYTEA   NOT NULL CHECK (length(blob_id) = 32),
    seq         BIGINT  NOT NULL CHECK (seq >= 0),
    data_key_id BYTEA   NOT NULL CHECK (length(data_key_id) = 16),
    data        BYTEA   NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
CREATE INDEX blob_segments_by_key ON blob_segments (data_key_id, blob_id, seq);
