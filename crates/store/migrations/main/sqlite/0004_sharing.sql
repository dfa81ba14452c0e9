-- Sharing and key rotation (protocol.md §18): a vault whose key a removed member or a revoked
-- device may hold is flagged until a manager's device rotates it to a new epoch. The flag is a
-- hint the server keeps for honest clients; it carries no authority (clients rotate on their own
-- after an unshare).
ALTER TABLE vaults ADD COLUMN rotation_due INTEGER NOT NULL DEFAULT 0 CHECK (rotation_due IN (0, 1));
CREATE INDEX vault_grants_by_recipient ON vault_grants (recipient_kind, recipient_id);
