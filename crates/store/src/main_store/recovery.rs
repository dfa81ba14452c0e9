//! Recovery keys of local vaults (protocol.md §19): the identity-signed enrolment, the recovery
//! public keys, the pointer to the server's share in the value store, and the recovery grants
//! (one vault key per epoch, sealed to the recovery key). The store neither parses nor checks
//! any of the bytes: the server checks them before, the client verifies them after.

use std::fmt;

use coffer_proto::{RecoveryId, UserId, VaultId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::MainStore;
use super::users::one_row;
use crate::audit::AuditEvent;
use crate::db::now;
use crate::rows::{self, Redacted};
use crate::{StoreError, ValuePointer};

/// A recovery grant: the vault key of one epoch sealed to the recovery key.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryGrantRow {
    /// The vault key epoch.
    pub epoch: u32,
    /// The grant bytes (protocol.md §5.3).
    pub grant: Vec<u8>,
}

impl fmt::Debug for RecoveryGrantRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryGrantRow")
            .field("epoch", &self.epoch)
            .field("grant", &Redacted(&self.grant))
            .finish()
    }
}

/// A recovery key to create, with its first grants.
#[derive(Clone)]
pub struct NewRecoveryKey {
    /// Chosen by the client.
    pub id: RecoveryId,
    /// The vault (must be live).
    pub vault_id: VaultId,
    /// The enrolling user.
    pub user_id: UserId,
    /// The signed enrolment (opaque to the store).
    pub enrolment: Vec<u8>,
    /// The recovery public keys (64 bytes) named in the enrolment.
    pub public_keys: Vec<u8>,
    /// Where the server's share lies in the value store (sealed by the server layer).
    pub server_share: ValuePointer,
    /// Its grants.
    pub grants: Vec<RecoveryGrantRow>,
}

impl fmt::Debug for NewRecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRecoveryKey")
            .field("id", &self.id)
            .field("vault_id", &self.vault_id)
            .field("user_id", &self.user_id)
            .field("enrolment", &Redacted(&self.enrolment))
            .field("public_keys", &Redacted(&self.public_keys))
            .field("server_share", &"***")
            .field("grants", &self.grants.len())
            .finish()
    }
}

/// A stored recovery key.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey {
    /// Its id.
    pub id: RecoveryId,
    /// The vault.
    pub vault_id: VaultId,
    /// The enrolling user.
    pub user_id: UserId,
    /// The signed enrolment.
    pub enrolment: Vec<u8>,
    /// The recovery public keys.
    pub public_keys: Vec<u8>,
    /// Where the server's share lies in the value store.
    pub server_share: ValuePointer,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryKey")
            .field("id", &self.id)
            .field("vault_id", &self.vault_id)
            .field("user_id", &self.user_id)
            .field("enrolment", &Redacted(&self.enrolment))
            .field("public_keys", &Redacted(&self.public_keys))
            .field("server_share", &"***")
            .field("created_at", &self.created_at)
            .finish()
    }
}

fn pointer(row: &AnyRow, col: &str) -> Result<ValuePointer, StoreError> {
    Ok(ValuePointer::from_bytes(rows::array(row, col)?))
}

fn key_from_row(row: &AnyRow) -> Result<RecoveryKey, StoreError> {
    Ok(RecoveryKey {
        id: rows::parsed(row, "id")?,
        vault_id: rows::parsed(row, "vault_id")?,
        user_id: rows::parsed(row, "user_id")?,
        enrolment: rows::bytes(row, "enrolment")?,
        public_keys: rows::bytes(row, "public_keys")?,
        server_share: pointer(row, "server_share")?,
        created_at: rows::int(row, "created_at")?,
    })
}

fn grant_from_row(row: &AnyRow) -> Result<RecoveryGrantRow, StoreError> {
    let epoch = u32::try_from(rows::int(row, "epoch")?)
        .map_err(|_| StoreError::Backend("recovery grant epoch out of range".into()))?;
    Ok(RecoveryGrantRow {
        epoch,
        grant: rows::bytes(row, "grant_bytes")?,
    })
}

async fn insert_grants(
    conn: &mut AnyConnection,
    id: RecoveryId,
    vault: VaultId,
    grants: &[RecoveryGrantRow],
    t: i64,
) -> Result<(), StoreError> {
    for g in grants {
        if g.epoch == 0 {
            return Err(StoreError::Invalid(
                "recovery grant epoch must be ≥ 1".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO recovery_grants (recovery_id, vault_id, epoch, grant_bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(vault.to_string())
        .bind(i64::from(g.epoch))
        .bind(g.grant.clone())
        .bind(t)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes every recovery key of `vault` with its grants, inside the caller's transaction, and
/// returns the share pointers to delete from the value store afterwards.
pub(super) async fn delete_vault_recovery(
    conn: &mut AnyConnection,
    vault: VaultId,
) -> Result<Vec<ValuePointer>, StoreError> {
    let found = sqlx::query("SELECT server_share FROM recovery_keys WHERE vault_id = $1")
        .bind(vault.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let shares = found
        .iter()
        .map(|r| pointer(r, "server_share"))
        .collect::<Result<Vec<_>, _>>()?;
    for sql in [
        "DELETE FROM recovery_grants WHERE vault_id = $1",
        "DELETE FROM recovery_keys WHERE vault_id = $1",
    ] {
        sqlx::query(sql)
            .bind(vault.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(shares)
}

impl MainStore {
    /// Creates a recovery key of a live vault with its grants, in one transaction. `NotFound`
    /// for a missing or deleted vault or an unknown user; `Conflict` if the id is taken;
    /// `Invalid` for public keys that are not 64 bytes or a grant of epoch 0.
    pub async fn create_recovery_key(
        &self,
        new: &NewRecoveryKey,
        audit: Option<&AuditEvent>,
    ) -> Result<RecoveryKey, StoreError> {
        if new.public_keys.len() != 64 {
            return Err(StoreError::Invalid(
                "recovery public keys must be 64 bytes".into(),
            ));
        }
        let t = now();
        let mut tx = self.db.begin_write().await?;
        super::vaults::lock_vault(&mut tx, self.db.backend, new.vault_id).await?;
        let user = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(new.user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if user.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO recovery_keys (id, vault_id, user_id, enrolment, public_keys, \
             server_share, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.id.to_string())
        .bind(new.vault_id.to_string())
        .bind(new.user_id.to_string())
        .bind(new.enrolment.clone())
        .bind(new.public_keys.clone())
        .bind(new.server_share.as_bytes().to_vec())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        insert_grants(&mut tx, new.id, new.vault_id, &new.grants, t).await?;
        self.finish(tx, audit).await?;
        Ok(RecoveryKey {
            id: new.id,
            vault_id: new.vault_id,
            user_id: new.user_id,
            enrolment: new.enrolment.clone(),
            public_keys: new.public_keys.clone(),
            server_share: new.server_share,
            created_at: t,
        })
    }

    /// A recovery key of a live vault. `NotFound` otherwise.
    pub async fn recovery_key(&self, id: RecoveryId) -> Result<RecoveryKey, StoreError> {
        let row = sqlx::query(
            "SELECT r.* FROM recovery_keys r JOIN vaults v ON v.id = r.vault_id \
             WHERE r.id = $1 AND v.deleted = 0",
        )
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        key_from_row(&row)
    }

    /// The user's recovery keys of live vaults (all vaults, or only `vault`), oldest first.
    pub async fn recovery_keys_of_user(
        &self,
        user: UserId,
        vault: Option<VaultId>,
    ) -> Result<Vec<RecoveryKey>, StoreError> {
        let found = sqlx::query(
            "SELECT r.* FROM recovery_keys r JOIN vaults v ON v.id = r.vault_id \
             WHERE r.user_id = $1 AND v.deleted = 0 AND ($2 = '' OR r.vault_id = $2) \
             ORDER BY r.created_at, r.id",
        )
        .bind(user.to_string())
        .bind(vault.map(|v| v.to_string()).unwrap_or_default())
        .fetch_all(&self.db.pool)
        .await?;
        found.iter().map(key_from_row).collect()
    }

    /// The grants of a recovery key, by epoch.
    pub async fn recovery_grants(
        &self,
        id: RecoveryId,
    ) -> Result<Vec<RecoveryGrantRow>, StoreError> {
        let found = sqlx::query(
            "SELECT epoch, grant_bytes FROM recovery_grants WHERE recovery_id = $1 ORDER BY epoch",
        )
        .bind(id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found.iter().map(grant_from_row).collect()
    }

    /// Adds grants of further epochs to a recovery key of a live vault, in one transaction.
    /// `NotFound` for an unknown key or a deleted vault; `Conflict` if an epoch already has one.
    pub async fn add_recovery_grants(
        &self,
        id: RecoveryId,
        grants: &[RecoveryGrantRow],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let row = sqlx::query("SELECT vault_id FROM recovery_keys WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let vault: VaultId = rows::parsed(&row, "vault_id")?;
        super::vaults::lock_vault(&mut tx, self.db.backend, vault).await?;
        insert_grants(&mut tx, id, vault, grants, now()).await?;
        self.finish(tx, audit).await
    }

    /// Deletes a recovery key and its grants, in one transaction; returns the share pointer to
    /// delete from the value store afterwards. `NotFound` if missing.
    pub async fn delete_recovery_key(
        &self,
        id: RecoveryId,
        audit: Option<&AuditEvent>,
    ) -> Result<ValuePointer, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let row = sqlx::query("SELECT server_share FROM recovery_keys WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let share = pointer(&row, "server_share")?;
        sqlx::query("DELETE FROM recovery_grants WHERE recovery_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM recovery_keys WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await?;
        Ok(share)
    }
}
