-- Recovery keys of local vaults (docs/protocol.md §19). One row per recovery key: the
-- identity-signed enrolment, the recovery public keys it names, and a pointer to the server's
-- share in the value store (sealed there by the server layer; released only to a session of the
-- enrolling user). Its grants carry the vault key of each epoch, sealed to the recovery key.
-- The SQLite twin must stay equivalent.

CREATE TABLE recovery_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    vault_id     TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    enrolment    BYTEA   NOT NULL,
    public_keys  BYTEA   NOT NULL CHECK (length(public_keys) = 64),
    server_share BYTEA   NOT NULL CHECK (length(server_share) = 32),
    created_at   BIGINT  NOT NULL
);
CREATE INDEX recovery_keys_by_user ON recovery_keys (user_id);
CREATE INDEX recovery_keys_by_vault ON recovery_keys (vault_id);

CREATE TABLE recovery_grants (
    recovery_id TEXT    NOT NULL REFERENCES recovery_keys (id) ON DELETE CASCADE,
    vault_id    TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    epoch       BIGINT  NOT NULL CHECK (epoch >= 1),
    grant_bytes BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (recovery_id, epoch)
);
