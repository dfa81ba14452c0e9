//! Sharing and key rotation of local vaults (docs/protocol.md §18): a vault's member list,
//! sharing a vault with a user together with the grants of its keys, unsharing (which flags
//! the vault for rotation), adding grants (replication), and rotating a vault to a new key
//! epoch with every live item re-sealed, in one transaction.
//!
//! The store checks counters, epochs and the shape of a rotation; it never opens a grant or an
//! item. Writes to one vault are serialised on its row, as for item writes.

use coffer_proto::vault::VaultRole;
use coffer_proto::{DeviceId, ItemId, UserId, VaultId};
use sqlx::AnyConnection;

use super::MainStore;
use super::vaults::{
    insert_grant, lock_at_counter, lock_vault, put_item_revisions, to_i64, to_u64,
};
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::binary_ids::ValuePointer;
use crate::db::now;
use crate::rows;

/// A member of a vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultMember {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their role in the vault.
    pub role: VaultRole,
    /// When they were added (unix seconds).
    pub added_at: i64,
    /// The role statement a manager signed for this membership (protocol.md §18.6).
    pub role_statement: Option<Vec<u8>>,
}

/// One item of a rotation: its new sealed value, under the new epoch, at `base_revision + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotatedItem {
    /// The item.
    pub item: ItemId,
    /// The revision the client re-sealed.
    pub base_revision: u64,
    /// The new sealed bytes, already in the value store.
    pub value: ValuePointer,
}

/// A principal entitled to a vault's current key without a grant of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// The vault.
    pub vault_id: VaultId,
    /// Its workspace.
    pub workspace_id: Option<coffer_proto::WorkspaceId>,
    /// Its current epoch.
    pub epoch: u32,
    /// The member.
    pub user_id: UserId,
    /// Their trusted device, or none for their identity.
    pub device_id: Option<DeviceId>,
    /// The device's certificate.
    pub certificate: Option<Vec<u8>>,
}

/// A rotation of a vault to a new key epoch.
#[derive(Debug, Clone)]
pub struct VaultRotation {
    /// The vault.
    pub vault: VaultId,
    /// The counter the client rotated from.
    pub base_counter: u64,
    /// The new epoch: the current one plus one.
    pub epoch: u32,
    /// The new manifest (counter `base_counter + 1`, the new epoch), compact form.
    pub manifest: Vec<u8>,
    /// The device that signed it, when known.
    pub manifest_signer: Option<DeviceId>,
    /// The grants of the new key (every member's devices and identities).
    pub grants: Vec<super::NewGrant>,
    /// Every live item, re-sealed.
    pub items: Vec<RotatedItem>,
}

impl MainStore {
    /// For every live vault `user` is a member of: the members' identities and trusted,
    /// certified devices that have no grant of the vault's current epoch.
    pub async fn pending_replications(&self, user: UserId) -> Result<Vec<Replication>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        let devices = sqlx::query(
            "SELECT v.id AS vault_id, v.workspace_id, v.epoch, m.user_id, d.id AS device_id, \
             d.certificate FROM vaults v \
             JOIN vault_members m ON m.vault_id = v.id \
             JOIN devices d ON d.user_id = m.user_id AND d.state = 'trusted' \
             WHERE v.deleted = 0 AND d.certificate IS NOT NULL AND v.id IN \
             (SELECT vault_id FROM vault_members WHERE user_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM vault_grants g WHERE g.vault_id = v.id \
             AND g.epoch = v.epoch AND g.recipient_kind = 'device' AND g.recipient_id = d.id) \
             ORDER BY v.id, m.user_id, d.id",
        )
        .bind(user.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let identities = sqlx::query(
            "SELECT v.id AS vault_id, v.workspace_id, v.epoch, m.user_id FROM vaults v \
             JOIN vault_members m ON m.vault_id = v.id \
             WHERE v.deleted = 0 AND v.id IN \
             (SELECT vault_id FROM vault_members WHERE user_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM vault_grants g WHERE g.vault_id = v.id \
             AND g.epoch = v.epoch AND g.recipient_kind = 'user' AND g.recipient_id = m.user_id) \
             ORDER BY v.id, m.user_id",
        )
        .bind(user.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(devices.len() + identities.len());
        for row in &identities {
            out.push(Replication {
                vault_id: rows::parsed(row, "vault_id")?,
                workspace_id: rows::opt_parsed(row, "workspace_id")?,
                epoch: super::vaults::to_u32("epoch", rows::int(row, "epoch")?)?,
                user_id: rows::parsed(row, "user_id")?,
                device_id: None,
                certificate: None,
            });
        }
        for row in &devices {
            out.push(Replication {
                vault_id: rows::parsed(row, "vault_id")?,
                workspace_id: rows::opt_parsed(row, "workspace_id")?,
                epoch: super::vaults::to_u32("epoch", rows::int(row, "epoch")?)?,
                user_id: rows::parsed(row, "user_id")?,
                device_id: Some(rows::parsed(row, "device_id")?),
                certificate: rows::opt_bytes(row, "certificate")?,
            });
        }
        Ok(out)
    }

    /// The members of a live vault, managers first, then by email. `NotFound` if the vault is
    /// missing or deleted.
    pub async fn vault_members(&self, vault: VaultId) -> Result<Vec<VaultMember>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        lock_free_vault_exists(&mut conn, vault).await?;
        let found = sqlx::query(
            "SELECT m.user_id, u.email, m.role, m.added_at, m.role_statement FROM vault_members m \
             JOIN users u ON u.id = m.user_id WHERE m.vault_id = $1 \
             ORDER BY CASE m.role WHEN 'manager' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, \
             u.email_key, m.user_id",
        )
        .bind(vault.to_string())
        .fetch_all(&mut *conn)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(VaultMember {
                    user_id: rows::parsed(row, "user_id")?,
                    email: rows::text(row, "email")?,
                    role: rows::parsed(row, "role")?,
                    added_at: rows::int(row, "added_at")?,
                    role_statement: rows::opt_bytes(row, "role_statement")?,
                })
            })
            .collect()
    }

    /// Makes `user` a member of `vault` with `role` (or changes their role), with the role
    /// `statement` signed by the sharing manager (replacing the stored one), and stores the
    /// grants of the vault's keys to them, in one transaction. Grants replace earlier grants
    /// to the same recipient and epoch. `NotFound` for a missing vault or user; `Invalid` for
    /// a grant of an epoch the vault does not have; `Conflict` when the change would leave the
    /// vault without a manager.
    pub async fn share_vault(
        &self,
        vault: VaultId,
        user: UserId,
        role: VaultRole,
        statement: Option<&[u8]>,
        grants: &[super::NewGrant],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let v = lock_vault(&mut tx, self.db.backend, vault).await?;
        check_epochs(grants, v.epoch)?;
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO vault_members (vault_id, user_id, role, added_at, role_statement) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (vault_id, user_id) DO UPDATE \
             SET role = excluded.role, role_statement = excluded.role_statement, direct = 1",
        )
        .bind(vault.to_string())
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(t)
        .bind(statement.map(<[u8]>::to_vec))
        .execute(&mut *tx)
        .await?;
        ensure_a_manager(&mut tx, vault).await?;
        for g in grants {
            insert_grant(&mut tx, vault, g, t).await?;
        }
        self.finish(tx, audit).await
    }

    /// Removes `user` from `vault` with every grant addressed to them or their devices, and
    /// flags the vault for rotation, in one transaction. `NotFound` when they are not a member;
    /// `Conflict` when they are its last manager.
    pub async fn unshare_vault(
        &self,
        vault: VaultId,
        user: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        lock_vault(&mut tx, self.db.backend, vault).await?;
        if !remove_from_vault(&mut tx, vault, user).await? {
            return Err(StoreError::NotFound);
        }
        ensure_a_manager(&mut tx, vault).await?;
        self.finish(tx, audit).await
    }

    /// Stores grants of existing epochs of `vault` (replication to a new device, a re-grant
    /// after an identity reset). Replaces earlier grants to the same recipient and epoch.
    pub async fn add_vault_grants(
        &self,
        vault: VaultId,
        grants: &[super::NewGrant],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let v = lock_vault(&mut tx, self.db.backend, vault).await?;
        check_epochs(grants, v.epoch)?;
        for g in grants {
            insert_grant(&mut tx, vault, g, t).await?;
        }
        self.finish(tx, audit).await
    }

    /// Rotates a vault to a new key epoch in one transaction: only if its counter is still
    /// `base_counter` (else `Conflict`), the epoch is the current one plus one and `items` are
    /// exactly its live items at their current revisions (else `Invalid`, or `Conflict` for a
    /// revision that moved). Each item gets revision `base + 1` under the new epoch and the new
    /// counter; the vault gets the new epoch, manifest and counter, the grants, and its
    /// rotation flag cleared. Returns the new counter. Revisions beyond the kept number are
    /// pruned by the item's next write.
    pub async fn rotate_vault(
        &self,
        r: &VaultRotation,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let new_counter = r
            .base_counter
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("counter overflow".into()))?;
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let v = lock_at_counter(&mut tx, self.db.backend, r.vault, r.base_counter).await?;
        if v.epoch.checked_add(1) != Some(r.epoch) {
            return Err(StoreError::Invalid(format!(
                "the new epoch must be {} (the current one plus one), not {}",
                u64::from(v.epoch) + 1,
                r.epoch
            )));
        }
        if r.grants.iter().any(|g| g.epoch != r.epoch) {
            return Err(StoreError::Invalid(
                "a rotation carries grants of the new epoch only".into(),
            ));
        }
        let live =
            sqlx::query("SELECT item_id, revision FROM items WHERE vault_id = $1 AND deleted = 0")
                .bind(r.vault.to_string())
                .fetch_all(&mut *tx)
                .await?;
        let mut current = std::collections::BTreeMap::new();
        for row in &live {
            let id: ItemId = rows::parsed(row, "item_id")?;
            current.insert(id, to_u64(rows::int(row, "revision")?));
        }
        let mut seen = std::collections::BTreeSet::new();
        for it in &r.items {
            if !seen.insert(it.item) {
                return Err(StoreError::Invalid(format!(
                    "item {} is listed twice",
                    it.item
                )));
            }
            match current.get(&it.item) {
                None => {
                    return Err(StoreError::Invalid(format!(
                        "item {} is not a live item of this vault",
                        it.item
                    )));
                }
                Some(rev) if *rev != it.base_revision => {
                    return Err(StoreError::Conflict(format!(
                        "item changed since your last sync (revision {rev})"
                    )));
                }
                Some(_) => {}
            }
        }
        if seen.len() != current.len() {
            return Err(StoreError::Invalid(format!(
                "a rotation re-seals every live item: {} of {} given",
                seen.len(),
                current.len()
            )));
        }
        let counter_i = to_i64("counter", new_counter)?;
        let mut rows = Vec::with_capacity(r.items.len());
        for it in &r.items {
            let rev = it
                .base_revision
                .checked_add(1)
                .ok_or_else(|| StoreError::Invalid("revision overflow".into()))?;
            rows.push((it.item, to_i64("revision", rev)?, Some(it.value)));
        }
        put_item_revisions(&mut tx, r.vault, (r.epoch, counter_i), &rows, t).await?;
        for g in &r.grants {
            insert_grant(&mut tx, r.vault, g, t).await?;
        }
        sqlx::query(
            "UPDATE vaults SET epoch = $2, counter = $3, manifest = $4, manifest_signer = $5, \
             rotation_due = 0, updated_at = $6 WHERE id = $1",
        )
        .bind(r.vault.to_string())
        .bind(i64::from(r.epoch))
        .bind(counter_i)
        .bind(r.manifest.clone())
        .bind(r.manifest_signer.map(|d| d.to_string()))
        .bind(t)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(new_counter)
    }
}

/// `NotFound` unless `vault` is live.
async fn lock_free_vault_exists(
    conn: &mut AnyConnection,
    vault: VaultId,
) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT id FROM vaults WHERE id = $1 AND deleted = 0")
        .bind(vault.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|_| ()).ok_or(StoreError::NotFound)
}

pub(super) fn check_epochs(grants: &[super::NewGrant], current: u32) -> Result<(), StoreError> {
    match grants.iter().find(|g| g.epoch == 0 || g.epoch > current) {
        Some(g) => Err(StoreError::Invalid(format!(
            "a grant of epoch {} (the vault's epochs are 1 to {current})",
            g.epoch
        ))),
        None => Ok(()),
    }
}

/// `Conflict` unless the vault still has a manager.
pub(super) async fn ensure_a_manager(
    conn: &mut AnyConnection,
    vault: VaultId,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM vault_members WHERE vault_id = $1 AND role = 'manager'",
    )
    .bind(vault.to_string())
    .fetch_one(&mut *conn)
    .await?;
    if rows::int(&row, "n")? == 0 {
        return Err(StoreError::Conflict(
            "a vault must keep at least one manager".into(),
        ));
    }
    Ok(())
}

/// Removes `user` from `vault` with every grant to them or their devices and flags the vault
/// for rotation; false when they were not a member.
pub(super) async fn remove_from_vault(
    conn: &mut AnyConnection,
    vault: VaultId,
    user: UserId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM vault_members WHERE vault_id = $1 AND user_id = $2")
        .bind(vault.to_string())
        .bind(user.to_string())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    drop_user_grants(conn, vault, user).await?;
    flag_rotation(conn, vault).await?;
    Ok(true)
}

/// Deletes the grants of `vault` addressed to `user` or to any of their devices.
async fn drop_user_grants(
    conn: &mut AnyConnection,
    vault: VaultId,
    user: UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM vault_grants WHERE vault_id = $1 AND \
         ((recipient_kind = 'user' AND recipient_id = $2) OR (recipient_kind = 'device' AND \
         recipient_id IN (SELECT id FROM devices WHERE user_id = $2)))",
    )
    .bind(vault.to_string())
    .bind(user.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Flags one vault for rotation.
async fn flag_rotation(conn: &mut AnyConnection, vault: VaultId) -> Result<(), StoreError> {
    sqlx::query("UPDATE vaults SET rotation_due = 1 WHERE id = $1")
        .bind(vault.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Flags every live vault `user` is a member of for rotation (one of their devices was
/// revoked), and drops the grants addressed to `device`.
pub(super) async fn after_device_revoked(
    conn: &mut AnyConnection,
    user: UserId,
    device: DeviceId,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE vaults SET rotation_due = 1 WHERE deleted = 0 AND id IN \
         (SELECT vault_id FROM vault_members WHERE user_id = $1)",
    )
    .bind(user.to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM vault_grants WHERE recipient_kind = 'device' AND recipient_id = $1")
        .bind(device.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Removes `user` from every vault of `workspace`, with their grants there, and flags those
/// vaults for rotation (they left or were removed from the workspace).
pub(super) async fn after_workspace_member_removed(
    conn: &mut AnyConnection,
    workspace: &str,
    user: UserId,
) -> Result<(), StoreError> {
    let vaults = sqlx::query(
        "SELECT m.vault_id FROM vault_members m JOIN vaults v ON v.id = m.vault_id \
         WHERE m.user_id = $1 AND v.workspace_id = $2",
    )
    .bind(user.to_string())
    .bind(workspace.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    for row in &vaults {
        let vault: VaultId = rows::parsed(row, "vault_id")?;
        remove_from_vault(conn, vault, user).await?;
    }
    Ok(())
}
