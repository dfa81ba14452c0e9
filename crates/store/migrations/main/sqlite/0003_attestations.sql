-- Identity attestations (protocol.md §17): the admin-signed attestation of a member's identity
-- key, kept with the membership (removing the member removes it).
ALTER TABLE members ADD COLUMN attestation BLOB;
