//! Login sessions. The store keeps a hash of each bearer token, never the token; a session is
//! found by that hash and is live while neither revoked nor expired.

use std::fmt;

use coffer_proto::{DeviceId, SessionId, UserId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::MainStore;
use super::users::one_row;
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::db::now;
use crate::rows::{self, Redacted};

/// Which of a user's sessions a credential change revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRevocation {
    /// None.
    None,
    /// All of them.
    All,
    /// All but this one (the session that made the change).
    AllExcept(SessionId),
}

/// A session to create.
#[derive(Clone)]
pub struct NewSession {
    /// Chosen by the caller.
    pub id: SessionId,
    /// A hash of the bearer token (the token itself is never stored). Unique.
    pub token_hash: Vec<u8>,
    /// The user logged in.
    pub user_id: UserId,
    /// The device logged in from; must belong to `user_id`.
    pub device_id: DeviceId,
    /// When the session stops being valid (unix seconds).
    pub expires_at: i64,
    /// Whether the second factor was already verified.
    pub mfa_verified: bool,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("id", &self.id)
            .field("token_hash", &Redacted(&self.token_hash))
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("expires_at", &self.expires_at)
            .field("mfa_verified", &self.mfa_verified)
            .finish()
    }
}

/// A stored session.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The hash of its bearer token.
    pub token_hash: Vec<u8>,
    /// Its user.
    pub user_id: UserId,
    /// Its device.
    pub device_id: DeviceId,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Expiry time (unix seconds).
    pub expires_at: i64,
    /// Last time it was used (unix seconds), as recorded by [`MainStore::touch_session`].
    pub last_used_at: i64,
    /// Whether it was revoked (logout, device revocation, password change).
    pub revoked: bool,
    /// Whether the second factor was verified in it.
    pub mfa_verified: bool,
}

impl Session {
    /// Whether the session may be used at time `now`: not revoked and not expired.
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && now < self.expires_at
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("token_hash", &Redacted(&self.token_hash))
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked", &self.revoked)
            .field("mfa_verified", &self.mfa_verified)
            .finish()
    }
}

fn session_from_row(row: &AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: rows::parsed(row, "id")?,
        token_hash: rows::bytes(row, "token_hash")?,
        user_id: rows::parsed(row, "user_id")?,
        device_id: rows::parsed(row, "device_id")?,
        created_at: rows::int(row, "created_at")?,
        expires_at: rows::int(row, "expires_at")?,
        last_used_at: rows::int(row, "last_used_at")?,
        revoked: rows::flag(row, "revoked")?,
        mfa_verified: rows::flag(row, "mfa_verified")?,
    })
}

/// Inserts a session inside a write transaction.
pub(crate) async fn insert_session(
    conn: &mut AnyConnection,
    new: &NewSession,
) -> Result<Session, StoreError> {
    if new.token_hash.is_empty() {
        return Err(StoreError::Invalid("token hash must not be empty".into()));
    }
    let t = now();
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, device_id, created_at, expires_at, \
         last_used_at, revoked, mfa_verified) VALUES ($1, $2, $3, $4, $5, $6, $5, 0, $7)",
    )
    .bind(new.id.to_string())
    .bind(new.token_hash.clone())
    .bind(new.user_id.to_string())
    .bind(new.device_id.to_string())
    .bind(t)
    .bind(new.expires_at)
    .bind(rows::flag_value(new.mfa_verified))
    .execute(&mut *conn)
    .await?;
    Ok(Session {
        id: new.id,
        token_hash: new.token_hash.clone(),
        user_id: new.user_id,
        device_id: new.device_id,
        created_at: t,
        expires_at: new.expires_at,
        last_used_at: t,
        revoked: false,
        mfa_verified: new.mfa_verified,
    })
}

/// Revokes the user's live sessions, except `keep`, inside a transaction.
pub(crate) async fn revoke_sessions_in_tx(
    conn: &mut AnyConnection,
    user: UserId,
    keep: Option<SessionId>,
) -> Result<u64, StoreError> {
    let done =
        match keep {
            None => {
                sqlx::query("UPDATE sessions SET revoked = 1 WHERE user_id = $1 AND revoked = 0")
                    .bind(user.to_string())
                    .execute(&mut *conn)
                    .await?
            }
            Some(keep) => sqlx::query(
                "UPDATE sessions SET revoked = 1 WHERE user_id = $1 AND revoked = 0 AND id <> $2",
            )
            .bind(user.to_string())
            .bind(keep.to_string())
            .execute(&mut *conn)
            .await?,
        };
    Ok(done.rows_affected())
}

/// Revokes the device's live sessions inside a transaction.
pub(crate) async fn revoke_device_sessions_in_tx(
    conn: &mut AnyConnection,
    device: DeviceId,
) -> Result<u64, StoreError> {
    let done = sqlx::query("UPDATE sessions SET revoked = 1 WHERE device_id = $1 AND revoked = 0")
        .bind(device.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

impl MainStore {
    /// Creates a session. `Conflict` if the id or token hash is taken; `NotFound` if the
    /// device does not exist or is not the user's.
    pub async fn create_session(
        &self,
        new: &NewSession,
        audit: Option<&AuditEvent>,
    ) -> Result<Session, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let session = insert_session(&mut tx, new).await?;
        self.finish(tx, audit).await?;
        Ok(session)
    }

    /// The session with this id, live or not.
    pub async fn session(&self, id: SessionId) -> Result<Session, StoreError> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        session_from_row(&row)
    }

    /// The **live** session whose token hashes to `token_hash` at time `now`: `NotFound` if
    /// there is none, or it is revoked or expired.
    pub async fn live_session_by_token_hash(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Session, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM sessions WHERE token_hash = $1 AND revoked = 0 AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        session_from_row(&row)
    }

    /// The user's sessions (live or not, until purged), newest first.
    pub async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let found =
            sqlx::query("SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id")
                .bind(user.to_string())
                .fetch_all(&self.db.pool)
                .await?;
        found.iter().map(session_from_row).collect()
    }

    /// Records that the session was used at `at`.
    pub async fn touch_session(
        &self,
        id: SessionId,
        at: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Records that the second factor was verified in this session.
    pub async fn mark_session_mfa_verified(
        &self,
        id: SessionId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE sessions SET mfa_verified = 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Revokes one session (idempotent; `NotFound` if it does not exist).
    pub async fn revoke_session(
        &self,
        id: SessionId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE sessions SET revoked = 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Revokes every live session of a device; returns how many.
    pub async fn revoke_device_sessions(
        &self,
        device: DeviceId,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let n = revoke_device_sessions_in_tx(&mut tx, device).await?;
        self.finish(tx, audit).await?;
        Ok(n)
    }

    /// Revokes every live session of a user, except `keep` if given; returns how many.
    pub async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let n = revoke_sessions_in_tx(&mut tx, user, keep).await?;
        self.finish(tx, audit).await?;
        Ok(n)
    }

    /// Deletes every session that expired at or before `now`; returns how many.
    pub async fn purge_expired_sessions(
        &self,
        now: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.finish(tx, audit).await?;
        Ok(done.rows_affected())
    }
}
