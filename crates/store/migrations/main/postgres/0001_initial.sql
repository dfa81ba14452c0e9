-- Coffer main store, PostgreSQL. Never edit a committed migration: add a new one.
-- Ids are TEXT (lowercase hyphenated UUIDs), bytes are BYTEA, times are BIGINT unix seconds,
-- flags are BIGINT 0/1 (the same SQL text runs on SQLite). The SQLite twin must stay equivalent.

CREATE TABLE users (
    id                   TEXT   NOT NULL PRIMARY KEY,
    email                TEXT   NOT NULL,
    email_key            TEXT   NOT NULL,
    opaque_record        BYTEA  NOT NULL,
    account_key_bundle   BYTEA  NOT NULL,
    identity_public_keys BYTEA  NOT NULL,
    signed_account_state BYTEA  NOT NULL,
    totp_secret          BYTEA,
    mfa_enabled          BIGINT NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    CONSTRAINT users_email_key_unique UNIQUE (email_key),
    CONSTRAINT users_mfa_needs_secret CHECK (mfa_enabled = 0 OR totp_secret IS NOT NULL)
);

CREATE TABLE recovery_codes (
    user_id   TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA  NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE devices (
    id           TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    public_keys  BYTEA  NOT NULL,
    certificate  BYTEA,
    state        TEXT   NOT NULL CHECK (state IN ('pending', 'trusted', 'revoked')),
    server_share BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    CONSTRAINT devices_id_user_unique UNIQUE (id, user_id)
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE sessions (
    id           TEXT   NOT NULL PRIMARY KEY,
    token_hash   BYTEA  NOT NULL,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id    TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revoked      BIGINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    mfa_verified BIGINT NOT NULL DEFAULT 0 CHECK (mfa_verified IN (0, 1)),
    CONSTRAINT sessions_token_hash_unique UNIQUE (token_hash),
    CONSTRAINT sessions_device_of_user FOREIGN KEY (device_id, user_id)
        REFERENCES devices (id, user_id) ON DELETE CASCADE
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_device ON sessions (device_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE workspaces (
    id            TEXT   NOT NULL PRIMARY KEY,
    name          TEXT   NOT NULL,
    mfa_required  BIGINT NOT NULL DEFAULT 0 CHECK (mfa_required IN (0, 1)),
    signed_policy BYTEA,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT workspaces_name_unique UNIQUE (name)
);

CREATE TABLE members (
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT   NOT NULL
        CHECK (role IN ('owner', 'admin', 'developer', 'member', 'no-access')),
    joined_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE invites (
    id           TEXT   NOT NULL PRIMARY KEY,
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        TEXT   NOT NULL,
    email_key    TEXT   NOT NULL,
    role         TEXT   NOT NULL
        CHECK (role IN ('owner', 'admin', 'developer', 'member', 'no-access')),
    invited_by   TEXT   REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('pending', 'accepted', 'revoked')),
    accepted_by  TEXT   REFERENCES users (id) ON DELETE SET NULL,
    answered_at  BIGINT
);
CREATE INDEX invites_by_workspace ON invites (workspace_id);
CREATE INDEX invites_by_email ON invites (email_key);
CREATE UNIQUE INDEX invites_one_pending ON invites (workspace_id, email_key)
    WHERE state = 'pending';

CREATE TABLE server_secrets (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE data_keys (
    id          BYTEA  NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    wrapped_key BYTEA  NOT NULL,
    state       TEXT   NOT NULL CHECK (state IN ('current', 'retired')),
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE UNIQUE INDEX data_keys_one_current ON data_keys (state) WHERE state = 'current';

-- The audit log (DESIGN §7): one global hash chain. `audit_head` holds the last seq and hash;
-- every append locks it (SELECT … FOR UPDATE), so appends are serialised and gapless.
CREATE TABLE audit_head (
    id   BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA  NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE audit_log (
    seq             BIGINT NOT NULL PRIMARY KEY,
    at              BIGINT NOT NULL,
    workspace_id    TEXT,
    actor_user_id   TEXT,
    actor_device_id TEXT,
    action          TEXT   NOT NULL,
    target          TEXT   NOT NULL,
    details         TEXT   NOT NULL,
    remote_addr     TEXT,
    prev_hash       BYTEA  NOT NULL,
    hash            BYTEA  NOT NULL
);
CREATE INDEX audit_log_by_workspace ON audit_log (workspace_id, seq);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
