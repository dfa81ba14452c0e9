-- The grant mailbox (docs/protocol.md §18.3a): a device acknowledges the vault-key grants
-- addressed to it once it holds the key; acknowledged device grants are emptied (bytes removed,
-- row kept so replication does not list the device again) after the retention window. Grants to
-- identities are never emptied. The SQLite twin must stay equivalent.

ALTER TABLE vault_grants ADD COLUMN acked_at BIGINT;
