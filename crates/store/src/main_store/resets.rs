//! Admin password resets (protocol.md §20): the one-time reset tokens an owner or admin issues
//! for a member (only their SHA-256 is stored), and the one transaction that uses a token to
//! give the member new credentials, a new identity and a new first device while everything
//! bound to the old identity (devices, sessions, identity grants, attestations, recovery keys,
//! the device chain)
//! is revoked or dropped.

use std::fmt;

use coffer_proto::{DeviceState, ResetId, UserId, WorkspaceId};
use sqlx::any::AnyRow;

use super::MainStore;
use super::devices::{Device, NewDevice, insert_device};
use super::sessions::{NewSession, Session, insert_session, revoke_sessions_in_tx};
use super::users::{Credentials, one_row};
use crate::audit::AuditEvent;
use crate::db::now;
use crate::rows::{self, Redacted};
use crate::{StoreError, ValuePointer};

/// A reset token to store.
#[derive(Clone)]
pub struct NewPasswordReset {
    /// Chosen by the caller.
    pub id: ResetId,
    /// The member whose password is reset.
    pub user_id: UserId,
    /// The workspace whose owner or admin issued it.
    pub workspace_id: WorkspaceId,
    /// SHA-256 of the token (32 bytes; the token itself is never stored).
    pub token_hash: Vec<u8>,
    /// Who issued it.
    pub created_by: UserId,
    /// When it stops being usable (unix seconds).
    pub expires_at: i64,
}

impl fmt::Debug for NewPasswordReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPasswordReset")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("workspace_id", &self.workspace_id)
            .field("token_hash", &Redacted(&self.token_hash))
            .field("created_by", &self.created_by)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A stored reset token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordReset {
    /// Its id.
    pub id: ResetId,
    /// The member whose password is reset.
    pub user_id: UserId,
    /// The issuing workspace.
    pub workspace_id: WorkspaceId,
    /// Who issued it.
    pub created_by: UserId,
    /// When it was issued.
    pub created_at: i64,
    /// When it expires.
    pub expires_at: i64,
    /// When it was used, if it was.
    pub used_at: Option<i64>,
}

fn reset_from_row(row: &AnyRow) -> Result<PasswordReset, StoreError> {
    Ok(PasswordReset {
        id: rows::parsed(row, "id")?,
        user_id: rows::parsed(row, "user_id")?,
        workspace_id: rows::parsed(row, "workspace_id")?,
        created_by: rows::parsed(row, "created_by")?,
        created_at: rows::int(row, "created_at")?,
        expires_at: rows::int(row, "expires_at")?,
        used_at: rows::opt_int(row, "used_at")?,
    })
}

/// What a completed reset did.
#[derive(Debug)]
pub struct ResetOutcome {
    /// The new first device.
    pub device: Device,
    /// Its session.
    pub session: Session,
    /// How many old devices were revoked.
    pub devices_revoked: u64,
    /// Value-store pointers of the dropped recovery keys' server shares (to delete after the
    /// commit).
    pub dropped_shares: Vec<ValuePointer>,
}

impl MainStore {
    /// Stores a reset token for a member, replacing their unused ones, in one transaction.
    pub async fn create_password_reset(
        &self,
        new: &NewPasswordReset,
        audit: Option<&AuditEvent>,
    ) -> Result<PasswordReset, StoreError> {
        if new.token_hash.len() != 32 {
            return Err(StoreError::Invalid("token hash must be 32 bytes".into()));
        }
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
            .bind(new.user_id.to_string())
            .execute(&mut *tx)
            .await?;
        let t = now();
        sqlx::query(
            "INSERT INTO password_resets (id, user_id, workspace_id, token_hash, created_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.id.to_string())
        .bind(new.user_id.to_string())
        .bind(new.workspace_id.to_string())
        .bind(new.token_hash.clone())
        .bind(new.created_by.to_string())
        .bind(t)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(PasswordReset {
            id: new.id,
            user_id: new.user_id,
            workspace_id: new.workspace_id,
            created_by: new.created_by,
            created_at: t,
            expires_at: new.expires_at,
            used_at: None,
        })
    }

    /// The reset with this token hash (used or not, expired or not: the caller decides).
    pub async fn password_reset_by_token(
        &self,
        token_hash: &[u8],
    ) -> Result<PasswordReset, StoreError> {
        let row = sqlx::query("SELECT * FROM password_resets WHERE token_hash = $1")
            .bind(token_hash.to_vec())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        reset_from_row(&row)
    }

    /// Uses reset `id` (unused, not expired at `now`, for `user`) in one transaction: replaces
    /// the user's credentials, revokes every session and every device (each revocation flags the
    /// user's vaults for rotation and drops the device's grants), drops the grants to the old
    /// identity, every attestation of the user (they must be confirmed again) and their recovery
    /// keys, and adds the new trusted device with its session. `Conflict` if the reset is used or
    /// expired; nothing is written then.
    pub async fn complete_password_reset(
        &self,
        id: ResetId,
        user: UserId,
        credentials: &Credentials,
        (device, session, chain_link): (&NewDevice, &NewSession, &[u8]),
        audit: Option<&AuditEvent>,
    ) -> Result<ResetOutcome, StoreError> {
        if device.user_id != user || session.user_id != user || device.id != session.device_id {
            return Err(StoreError::Invalid(
                "the device and session must belong to the reset user".into(),
            ));
        }
        if device.state != DeviceState::Trusted {
            return Err(StoreError::Invalid(
                "the first device after a reset is trusted".into(),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let t = now();
        let used = sqlx::query(
            "UPDATE password_resets SET used_at = $3 \
             WHERE id = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "the reset token is used, expired or not for this user".into(),
            ));
        }
        let done = sqlx::query(
            "UPDATE users SET opaque_record = $2, account_key_bundle = $3, \
             identity_public_keys = $4, signed_account_state = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(user.to_string())
        .bind(credentials.opaque_record.clone())
        .bind(credentials.account_key_bundle.clone())
        .bind(credentials.identity_public_keys.clone())
        .bind(credentials.signed_account_state.clone())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        one_row(done.rows_affected())?;
        revoke_sessions_in_tx(&mut tx, user, None).await?;
        let old = sqlx::query("SELECT id FROM devices WHERE user_id = $1 AND state <> 'revoked'")
            .bind(user.to_string())
            .fetch_all(&mut *tx)
            .await?;
        for row in &old {
            let dev: coffer_proto::DeviceId = rows::parsed(row, "id")?;
            sqlx::query("UPDATE devices SET state = 'revoked' WHERE id = $1")
                .bind(dev.to_string())
                .execute(&mut *tx)
                .await?;
            super::sharing::after_device_revoked(&mut tx, user, dev).await?;
        }
        sqlx::query("DELETE FROM vault_grants WHERE recipient_kind = 'user' AND recipient_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE members SET attestation = NULL WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        let shares = sqlx::query("SELECT server_share FROM recovery_keys WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let dropped_shares = shares
            .iter()
            .map(|r| Ok(ValuePointer::from_bytes(rows::array(r, "server_share")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        sqlx::query(
            "DELETE FROM recovery_grants WHERE recovery_id IN \
             (SELECT id FROM recovery_keys WHERE user_id = $1)",
        )
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_keys WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        // A new identity starts a new device chain (protocol.md §14.5): the old links and the
        // admin endorsements of old devices go; the new device's genesis link is checked under
        // the new identity.
        sqlx::query("DELETE FROM device_chain_links WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM device_endorsements WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        let device_row = insert_device(&mut tx, device).await?;
        super::chain::append_link_on(
            &mut tx,
            user,
            chain_link,
            super::chain::LinkMust::Add {
                device: device.id,
                public_keys: &device.public_keys,
            },
        )
        .await?;
        let device = device_row;
        let session = insert_session(&mut tx, session).await?;
        self.finish(tx, audit).await?;
        Ok(ResetOutcome {
            device,
            session,
            devices_revoked: u64::try_from(old.len()).unwrap_or(u64::MAX),
            dropped_shares,
        })
    }
}
