-- Device chains and admin endorsements (docs/protocol.md §14.5, §14.6).
--
-- device_chain_links: each user's append-only chain of signed links (add / revoke a device,
-- crates/crypto/src/chain.rs), one row per link, seq from 0 without gaps. The store appends a
-- link only after checking, in the same transaction as the device state change, that it
-- extends the stored chain (seq = head + 1, previous hash, signer trusted at that point). Links
-- are never updated or deleted (except with their user).
--
-- device_endorsements: an owner's or admin's signed consent (crates/crypto/src/endorse.rs) that
-- lets a member's pending device certify itself although the member has trusted devices. One
-- per device; removed with the device.
--
-- The PostgreSQL twin must stay equivalent.

CREATE TABLE device_chain_links (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CHECK (seq >= 0),
    link       BLOB    NOT NULL CHECK (length(link) = 226),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT;

CREATE TABLE device_endorsements (
    device_id    TEXT    NOT NULL PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    endorser_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endorsement  BLOB    NOT NULL CHECK (length(endorsement) = 297),
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX device_endorsements_by_user ON device_endorsements (user_id);
