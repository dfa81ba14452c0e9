-- Coffer main store, SQLite: local vaults, their members, key grants, items, kept revisions and
-- attachments (docs/protocol.md §15–§16). The PostgreSQL twin must stay equivalent.
-- Everything here is ids, counters and sizes: item payloads live in the value store under
-- `value_ptr`, attachment bytes in the value store's `blob_segments` under `blob_id`.
-- A deleted vault keeps its row (`deleted` = 1, id never reused); its children are removed.

CREATE TABLE vaults (
    id              TEXT    NOT NULL PRIMARY KEY,
    workspace_id    TEXT    REFERENCES workspaces (id) ON DELETE CASCADE,
    owner_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch           INTEGER NOT NULL CHECK (epoch >= 1),
    counter         INTEGER NOT NULL CHECK (counter >= 0),
    manifest        BLOB    NOT NULL,
    manifest_signer TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
) STRICT;
CREATE INDEX vaults_by_workspace ON vaults (workspace_id);

CREATE TABLE vault_members (
    vault_id TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'manager')),
    added_at INTEGER NOT NULL,
    PRIMARY KEY (vault_id, user_id)
) STRICT;
CREATE INDEX vault_members_by_user ON vault_members (user_id);

CREATE TABLE vault_grants (
    vault_id       TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    epoch          INTEGER NOT NULL,
    recipient_kind TEXT    NOT NULL CHECK (recipient_kind IN ('device', 'user')),
    recipient_id   TEXT    NOT NULL,
    grant_bytes    BLOB    NOT NULL,
    signer_key     BLOB    NOT NULL CHECK (length(signer_key) = 32),
    signer_device  TEXT,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (vault_id, epoch, recipient_kind, recipient_id)
) STRICT;

CREATE TABLE items (
    vault_id   TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    item_id    TEXT    NOT NULL,
    revision   INTEGER NOT NULL CHECK (revision >= 1),
    epoch      INTEGER NOT NULL,
    counter    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    value_ptr  BLOB    CHECK (value_ptr IS NULL OR length(value_ptr) = 32),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (vault_id, item_id),
    CONSTRAINT items_value_unless_deleted CHECK ((deleted = 1) = (value_ptr IS NULL))
) STRICT;
CREATE INDEX items_by_counter ON items (vault_id, counter, item_id);

CREATE TABLE item_revisions (
    vault_id   TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    item_id    TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    counter    INTEGER NOT NULL,
    value_ptr  BLOB    CHECK (value_ptr IS NULL OR length(value_ptr) = 32),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (vault_id, item_id, revision)
) STRICT;

CREATE TABLE attachments (
    vault_id      TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    item_id       TEXT    NOT NULL,
    attachment_id TEXT    NOT NULL,
    blob_id       BLOB    NOT NULL CHECK (length(blob_id) = 32),
    size          INTEGER NOT NULL CHECK (size >= 0),
    segments      INTEGER NOT NULL CHECK (segments >= 0),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (vault_id, item_id, attachment_id)
) STRICT;
