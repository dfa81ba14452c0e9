-- Items shared alone (docs/protocol.md §21): the item key of one item's current epoch, sealed to
-- a workspace member's identity and trusted devices and signed by a manager's device. One row
-- per grant; the share of (item, user) is the set of its rows. Unsharing deletes the rows and
-- flags the vault for rotation (the next rotation gives every item a fresh item key). The
-- SQLite twin must stay equivalent.

CREATE TABLE item_grants (
    vault_id       TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    item_id        TEXT    NOT NULL,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch          BIGINT  NOT NULL,
    recipient_kind TEXT    NOT NULL CHECK (recipient_kind IN ('device', 'user')),
    recipient_id   TEXT    NOT NULL,
    grant_bytes    BYTEA   NOT NULL,
    signer_key     BYTEA   NOT NULL CHECK (length(signer_key) = 32),
    signer_device  TEXT,
    created_by     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    PRIMARY KEY (vault_id, item_id, user_id, epoch, recipient_kind, recipient_id)
);
CREATE INDEX item_grants_by_user ON item_grants (user_id);
