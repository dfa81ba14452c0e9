-- Signed statements (protocol.md §17.1, §18.6): the role statement a vault manager signed for
-- each membership (the creator's own statement names itself manager: the vault's root). The
-- signed workspace policy lives in workspaces.signed_policy (0001). The server stores and serves
-- statements; clients verify them.
ALTER TABLE vault_members ADD COLUMN role_statement BLOB;
