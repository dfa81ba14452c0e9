//! Items shared alone (protocol.md §21): the grants of one item's key to a workspace member
//! who need not be a member of the vault. The store neither parses nor checks grant bytes (the
//! server checks them before, the recipient verifies them after); it keeps a share consistent
//! with the item: a share names the item's current epoch, and unsharing flags the vault for
//! rotation so the item gets a fresh key.

use coffer_proto::{ItemId, UserId, VaultId, WorkspaceId};

use super::MainStore;
use super::vaults::{ItemRow, StoredGrant, grant_from_row, item_from_row, recipient_parts};
use crate::audit::AuditEvent;
use crate::db::now;
use crate::rows;
use crate::{NewGrant, StoreError};

/// An item shared with a user, with its current state and the grants to that user.
#[derive(Debug, Clone)]
pub struct SharedItemRow {
    /// The vault holding it.
    pub vault_id: VaultId,
    /// The vault's workspace.
    pub workspace_id: Option<WorkspaceId>,
    /// The item's current state.
    pub item: ItemRow,
    /// The grants to the user and their devices (every epoch stored).
    pub grants: Vec<StoredGrant>,
}

impl MainStore {
    /// Shares `item` of `vault` with `user`: replaces their grants of the item by `grants`, all
    /// of which must carry the item's current epoch, in one transaction. `NotFound` for a
    /// missing or deleted item, `Conflict` when the item is at another epoch now.
    pub async fn share_item(
        &self,
        vault: VaultId,
        item: ItemId,
        user: UserId,
        grants: &[NewGrant],
        created_by: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        if grants.is_empty() {
            return Err(StoreError::Invalid(
                "a share needs at least one grant".into(),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let row =
            sqlx::query("SELECT epoch, deleted FROM items WHERE vault_id = $1 AND item_id = $2")
                .bind(vault.to_string())
                .bind(item.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        if rows::flag(&row, "deleted")? {
            return Err(StoreError::NotFound);
        }
        let epoch = rows::int(&row, "epoch")?;
        if grants.iter().any(|g| i64::from(g.epoch) != epoch) {
            return Err(StoreError::Conflict(
                "the item is at another key epoch now: sync and share again".into(),
            ));
        }
        sqlx::query(
            "DELETE FROM item_grants WHERE vault_id = $1 AND item_id = $2 AND user_id = $3",
        )
        .bind(vault.to_string())
        .bind(item.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        let t = now();
        for g in grants {
            let (kind, id) = recipient_parts(&g.recipient);
            sqlx::query(
                "INSERT INTO item_grants (vault_id, item_id, user_id, epoch, recipient_kind, \
                 recipient_id, grant_bytes, signer_key, signer_device, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(vault.to_string())
            .bind(item.to_string())
            .bind(user.to_string())
            .bind(i64::from(g.epoch))
            .bind(kind)
            .bind(id)
            .bind(g.grant.clone())
            .bind(g.signer_key.to_vec())
            .bind(g.signer_device.map(|d| d.to_string()))
            .bind(created_by.to_string())
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    StoreError::Invalid("a second grant to the same recipient".into())
                }
                e => e.into(),
            })?;
        }
        self.finish(tx, audit).await
    }

    /// Removes `user`'s share of `item` and flags the vault for rotation, in one transaction.
    /// `NotFound` if there was none.
    pub async fn unshare_item(
        &self,
        vault: VaultId,
        item: ItemId,
        user: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM item_grants WHERE vault_id = $1 AND item_id = $2 AND user_id = $3",
        )
        .bind(vault.to_string())
        .bind(item.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE vaults SET rotation_due = 1 WHERE id = $1")
            .bind(vault.to_string())
            .execute(&mut *tx)
            .await?;
        self.finish(tx, audit).await
    }

    /// Every (item, user) share of `vault`, by item then user.
    pub async fn item_shares_of_vault(
        &self,
        vault: VaultId,
    ) -> Result<Vec<(ItemId, UserId)>, StoreError> {
        let found = sqlx::query(
            "SELECT DISTINCT item_id, user_id FROM item_grants WHERE vault_id = $1 \
             ORDER BY item_id, user_id",
        )
        .bind(vault.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found
            .iter()
            .map(|r| Ok((rows::parsed(r, "item_id")?, rows::parsed(r, "user_id")?)))
            .collect()
    }

    /// The live items shared with `user` alone, each with its current state and the grants to
    /// `user` and their devices, by vault and item.
    pub async fn items_shared_with(&self, user: UserId) -> Result<Vec<SharedItemRow>, StoreError> {
        let grants = sqlx::query(
            "SELECT g.*, v.workspace_id FROM item_grants g JOIN vaults v ON v.id = g.vault_id \
             WHERE g.user_id = $1 AND v.deleted = 0 ORDER BY g.vault_id, g.item_id, g.epoch",
        )
        .bind(user.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        let mut out: Vec<SharedItemRow> = Vec::new();
        for row in &grants {
            let vault: VaultId = rows::parsed(row, "vault_id")?;
            let item: ItemId = rows::parsed(row, "item_id")?;
            let g = grant_from_row(row)?;
            match out.last_mut() {
                Some(last) if last.vault_id == vault && last.item.item_id == item => {
                    last.grants.push(g);
                }
                _ => {
                    let found = sqlx::query(
                        "SELECT item_id, revision, epoch, counter, deleted, value_ptr, \
                         updated_at FROM items WHERE vault_id = $1 AND item_id = $2",
                    )
                    .bind(vault.to_string())
                    .bind(item.to_string())
                    .fetch_optional(&self.db.pool)
                    .await?;
                    let Some(found) = found else { continue };
                    let state = item_from_row(&found)?;
                    if state.deleted {
                        continue;
                    }
                    out.push(SharedItemRow {
                        vault_id: vault,
                        workspace_id: rows::opt_parsed(row, "workspace_id")?,
                        item: state,
                        grants: vec![g],
                    });
                }
            }
        }
        Ok(out)
    }
}
