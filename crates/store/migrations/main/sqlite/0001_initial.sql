-- Coffer main store, SQLite. Never edit a committed migration: add a new one.
-- Ids are TEXT (lowercase hyphenated UUIDs), bytes are BLOB, times are INTEGER unix seconds,
-- flags are INTEGER 0/1. The PostgreSQL twin of this file must stay equivalent.

CREATE TABLE users (
    id                   TEXT    NOT NULL PRIMARY KEY,
    email                TEXT    NOT NULL,
    email_key            TEXT    NOT NULL,
    opaque_record        BLOB    NOT NULL,
    account_key_bundle   BLOB    NOT NULL,
    identity_public_keys BLOB    NOT NULL,
    signed_account_state BLOB    NOT NULL,
    totp_secret          BLOB,
    mfa_enabled          INTEGER NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    CONSTRAINT users_email_key_unique UNIQUE (email_key),
    CONSTRAINT users_mfa_needs_secret CHECK (mfa_enabled = 0 OR totp_secret IS NOT NULL)
) STRICT;

CREATE TABLE recovery_codes (
    user_id   TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

CREATE TABLE devices (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    public_keys  BLOB    NOT NULL,
    certificate  BLOB,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'trusted', 'revoked')),
    server_share BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    CONSTRAINT devices_id_user_unique UNIQUE (id, user_id)
) STRICT;
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    token_hash   BLOB    NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id    TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    mfa_verified INTEGER NOT NULL DEFAULT 0 CHECK (mfa_verified IN (0, 1)),
    CONSTRAINT sessions_token_hash_unique UNIQUE (token_hash),
    CONSTRAINT sessions_device_of_user FOREIGN KEY (device_id, user_id)
        REFERENCES devices (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_device ON sessions (device_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE workspaces (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    mfa_required  INTEGER NOT NULL DEFAULT 0 CHECK (mfa_required IN (0, 1)),
    signed_policy BLOB,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CONSTRAINT workspaces_name_unique UNIQUE (name)
) STRICT;

CREATE TABLE members (
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL
        CHECK (role IN ('owner', 'admin', 'developer', 'member', 'no-access')),
    joined_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) STRICT;
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE invites (
    id           TEXT    NOT NULL PRIMARY KEY,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        TEXT    NOT NULL,
    email_key    TEXT    NOT NULL,
    role         TEXT    NOT NULL
        CHECK (role IN ('owner', 'admin', 'developer', 'member', 'no-access')),
    invited_by   TEXT    REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'accepted', 'revoked')),
    accepted_by  TEXT    REFERENCES users (id) ON DELETE SET NULL,
    answered_at  INTEGER
) STRICT;
CREATE INDEX invites_by_workspace ON invites (workspace_id);
CREATE INDEX invites_by_email ON invites (email_key);
CREATE UNIQUE INDEX invites_one_pending ON invites (workspace_id, email_key)
    WHERE state = 'pending';

CREATE TABLE server_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE data_keys (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    wrapped_key BLOB    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('current', 'retired')),
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) STRICT;
CREATE UNIQUE INDEX data_keys_one_current ON data_keys (state) WHERE state = 'current';

-- The audit log (DESIGN §7): one global hash chain. `audit_head` holds the last seq and hash;
-- every append reads it under the write lock, so appends are serialised and gapless.
CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB    NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_log (
    seq             INTEGER NOT NULL PRIMARY KEY,
    at              INTEGER NOT NULL,
    workspace_id    TEXT,
    actor_user_id   TEXT,
    actor_device_id TEXT,
    action          TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    details         TEXT    NOT NULL,
    remote_addr     TEXT,
    prev_hash       BLOB    NOT NULL,
    hash            BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_log_by_workspace ON audit_log (workspace_id, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
