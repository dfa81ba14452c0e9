-- Coffer main store, PostgreSQL: local vaults, their members, key grants, items, kept revisions and
-- attachments (docs/protocol.md §15–§16). The SQLite twin must stay equivalent.
-- Everything here is ids, counters and sizes: item payloads live in the value store under
-- `value_ptr`, attachment bytes in the value store's `blob_segments` under `blob_id`.
-- A deleted vault keeps its row (`deleted` = 1, id never reused); its children are removed.

CREATE TABLE vaults (
    id              TEXT    NOT NULL PRIMARY KEY,
    workspace_id    TEXT    REFERENCES workspaces (id) ON DELETE CASCADE,
    owner_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch           BIGINT  NOT NULL CHECK (epoch >= 1),
    counter         BIGINT  NOT NULL CHECK (counter >= 0),
    manifest        BYTEA   NOT NULL,
    manifest_signer TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    deleted         BIGINT  NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
);
CREATE INDEX vaults_by_workspace ON vaults (workspace_id);

CREATE TABLE vault_members (
    vault_id TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'manager')),
    added_at BIGINT  NOT NULL,
    PRIMARY KEY (vault_id, user_id)
);
CREATE INDEX vault_members_by_user ON vault_members (user_id);

CREATE TABLE vault_grants (
    vault_id       TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    epoch          BIGINT  NOT NULL,
    recipient_kind TEXT    NOT NULL CHECK (recipient_kind IN ('device', 'user')),
    recipient_id   TEXT    NOT NULL,
    grant_bytes    BYTEA   NOT NULL,
    signer_key     BYTEA   NOT NULL CHECK (length(signer_key) = 32),
    signer_device  TEXT,
    created_at     BIGINT  NOT NULL,
    PRIMARY KEY (vault_id, epoch, recipient_kind, recipient_id)
);

CREATE TABLE items (
    vault_id   TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    item_id    TEXT    NOT NULL,
    revision   BIGINT  NOT NULL CHECK (revision >= 1),
    epoch      BIGINT  NOT NULL,
    counter    BIGINT  NOT NULL,
    deleted    BIGINT  NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    value_ptr  BYTEA   CHECK (value_ptr IS NULL OR length(value_ptr) = 32),
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (vault_id, item_id),
    CONSTRAINT items_value_unless_deleted CHECK ((deleted = 1) = (value_ptr IS NULL))
);
CREATE INDEX items_by_counter ON items (vault_id, counter, item_id);

CREATE TABLE item_revisions (
    vault_id   TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    item_id    TEXT    NOT NULL,
    revision   BIGINT  NOT NULL,
    epoch      BIGINT  NOT NULL,
    counter    BIGINT  NOT NULL,
    value_ptr  BYTEA   CHECK (value_ptr IS NULL OR length(value_ptr) = 32),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (vault_id, item_id, revision)
);

CREATE TABLE attachments (
    vault_id      TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    item_id       TEXT    NOT NULL,
    attachment_id TEXT    NOT NULL,
    blob_id       BYTEA   NOT NULL CHECK (length(blob_id) = 32),
    size          BIGINT  NOT NULL CHECK (size >= 0),
    segments      BIGINT  NOT NULL CHECK (segments >= 0),
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (vault_id, item_id, attachment_id)
);
