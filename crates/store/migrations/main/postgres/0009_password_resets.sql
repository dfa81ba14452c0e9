-- Admin password resets (docs/protocol.md §20). An owner or admin of a workspace issues a
-- one-time reset token for a member (only its SHA-256 is kept); the member uses it once, before
-- it expires, to register a new password and a new identity. Issuing a new token for a user
-- replaces their unused ones. The SQLite twin must stay equivalent.

CREATE TABLE password_resets (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   BYTEA   NOT NULL CHECK (length(token_hash) = 32),
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    used_at      BIGINT,
    CONSTRAINT password_resets_token_unique UNIQUE (token_hash)
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);
