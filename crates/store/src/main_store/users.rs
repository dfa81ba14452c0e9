//! Users: account credentials (OPAQUE password file, key bundle, identity keys, signed account
//! state), MFA settings and one-time recovery codes.

use std::fmt;

use coffer_proto::UserId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::devices::{Device, NewDevice, insert_device};
use super::sessions::{
    NewSession, Session, SessionRevocation, insert_session, revoke_sessions_in_tx,
};
use super::workspaces::lock_workspace;
use super::{MainStore, email_key};
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::db::now;
use crate::rows::{self, Redacted, RedactedOpt};

/// What a user logs in and unlocks with. All four are opaque bytes to the store, replaced
/// together on a password change or reset.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The OPAQUE registration record (the server's password file).
    pub opaque_record: Vec<u8>,
    /// The account key bundle (identity private keys wrapped under the password KEK).
    pub account_key_bundle: Vec<u8>,
    /// The identity public keys (Ed25519 + X25519).
    pub identity_public_keys: Vec<u8>,
    /// The signed account state (KDF parameters, format version, recovery enrolment).
    pub signed_account_state: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("opaque_record", &Redacted(&self.opaque_record))
            .field("account_key_bundle", &Redacted(&self.account_key_bundle))
            .field(
                "identity_public_keys",
                &Redacted(&self.identity_public_keys),
            )
            .field(
                "signed_account_state",
                &Redacted(&self.signed_account_state),
            )
            .finish()
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Chosen by the caller.
    pub id: UserId,
    /// Unique, compared case-insensitively; stored as given (no surrounding spaces).
    pub email: String,
    /// The account's credentials.
    pub credentials: Credentials,
}

/// The second-factor settings of a user.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaSettings {
    /// The TOTP secret, already encrypted by the server.
    pub totp_secret: Option<Vec<u8>>,
    /// Whether TOTP is required at login. Needs a secret.
    pub enabled: bool,
}

impl fmt::Debug for MfaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaSettings")
            .field("totp_secret", &RedactedOpt(self.totp_secret.as_deref()))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The email as given at creation or last change.
    pub email: String,
    /// The account's credentials.
    pub credentials: Credentials,
    /// The MFA settings.
    pub mfa: MfaSettings,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change of email, credentials, account state or MFA (unix seconds).
    pub updated_at: i64,
}

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: rows::parsed(row, "id")?,
        email: rows::text(row, "email")?,
        credentials: Credentials {
            opaque_record: rows::bytes(row, "opaque_record")?,
            account_key_bundle: rows::bytes(row, "account_key_bundle")?,
            identity_public_keys: rows::bytes(row, "identity_public_keys")?,
            signed_account_state: rows::bytes(row, "signed_account_state")?,
        },
        mfa: MfaSettings {
            totp_secret: rows::opt_bytes(row, "totp_secret")?,
            enabled: rows::flag(row, "mfa_enabled")?,
        },
        created_at: rows::int(row, "created_at")?,
        updated_at: rows::int(row, "updated_at")?,
    })
}

/// Inserts a user inside a write transaction.
pub(crate) async fn insert_user(
    conn: &mut AnyConnection,
    new: &NewUser,
) -> Result<User, StoreError> {
    let key = email_key(&new.email)?;
    let t = now();
    let c = &new.credentials;
    sqlx::query(
        "INSERT INTO users (id, email, email_key, opaque_record, account_key_bundle, \
         identity_public_keys, signed_account_state, totp_secret, mfa_enabled, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, 0, $8, $8)",
    )
    .bind(new.id.to_string())
    .bind(new.email.clone())
    .bind(key)
    .bind(c.opaque_record.clone())
    .bind(c.account_key_bundle.clone())
    .bind(c.identity_public_keys.clone())
    .bind(c.signed_account_state.clone())
    .bind(t)
    .execute(&mut *conn)
    .await?;
    Ok(User {
        id: new.id,
        email: new.email.clone(),
        credentials: new.credentials.clone(),
        mfa: MfaSettings {
            totp_secret: None,
            enabled: false,
        },
        created_at: t,
        updated_at: t,
    })
}

/// Fails with `NotFound` unless exactly one row changed.
pub(crate) fn one_row(affected: u64) -> Result<(), StoreError> {
    if affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl MainStore {
    /// Creates a user. `Conflict` if the id or the email (case-insensitively) is taken.
    pub async fn create_user(
        &self,
        new: &NewUser,
        audit: Option<&AuditEvent>,
    ) -> Result<User, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let user = insert_user(&mut tx, new).await?;
        self.finish(tx, audit).await?;
        Ok(user)
    }

    /// Signs up in one transaction: the user, their first device and, if given, a session on
    /// it. Nothing is stored if any part fails (e.g. the email is taken).
    pub async fn register_account(
        &self,
        user: &NewUser,
        device: &NewDevice,
        session: Option<&NewSession>,
        audit: Option<&AuditEvent>,
    ) -> Result<(User, Device, Option<Session>), StoreError> {
        self.register_account_inner(user, device, session, None, audit)
            .await
    }

    /// [`MainStore::register_account`] for a first device that is trusted at once: `link`, the
    /// genesis of the user's device chain (seq 0, signed by the new identity key), must add
    /// exactly this device with its keys; it is stored in the same transaction (protocol.md
    /// §14.5). Nothing is written on a refusal.
    pub async fn register_account_chained(
        &self,
        user: &NewUser,
        device: &NewDevice,
        session: Option<&NewSession>,
        link: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<(User, Device, Option<Session>), StoreError> {
        self.register_account_inner(user, device, session, Some(link), audit)
            .await
    }

    async fn register_account_inner(
        &self,
        user: &NewUser,
        device: &NewDevice,
        session: Option<&NewSession>,
        link: Option<&[u8]>,
        audit: Option<&AuditEvent>,
    ) -> Result<(User, Device, Option<Session>), StoreError> {
        if device.user_id != user.id || session.is_some_and(|s| s.user_id != user.id) {
            return Err(StoreError::Invalid(
                "the device and session must belong to the new user".into(),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let created = insert_user(&mut tx, user).await?;
        let dev = insert_device(&mut tx, device).await?;
        if let Some(link) = link {
            super::chain::append_link_on(
                &mut tx,
                user.id,
                link,
                super::chain::LinkMust::Add {
                    device: device.id,
                    public_keys: &device.public_keys,
                },
            )
            .await?;
        }
        let ses = match session {
            Some(s) => Some(insert_session(&mut tx, s).await?),
            None => None,
        };
        self.finish(tx, audit).await?;
        Ok((created, dev, ses))
    }

    /// The user with this id.
    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// The user with this email, compared case-insensitively.
    pub async fn user_by_email(&self, email: &str) -> Result<User, StoreError> {
        let key = email_key(email)?;
        let row = sqlx::query("SELECT * FROM users WHERE email_key = $1")
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// How many users exist (e.g. to let the very first one bootstrap the server).
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.db.pool)
            .await?;
        Ok(rows::count(n))
    }

    /// Changes a user's email. `Conflict` if another user has it.
    pub async fn set_user_email(
        &self,
        id: UserId,
        email: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let key = email_key(email)?;
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET email = $2, email_key = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(email.to_owned())
        .bind(key)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Replaces all four credentials at once (password change or reset) and revokes sessions
    /// as `revoke` says, in one transaction. Returns how many sessions were revoked.
    pub async fn replace_credentials(
        &self,
        id: UserId,
        credentials: &Credentials,
        revoke: SessionRevocation,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET opaque_record = $2, account_key_bundle = $3, \
             identity_public_keys = $4, signed_account_state = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(credentials.opaque_record.clone())
        .bind(credentials.account_key_bundle.clone())
        .bind(credentials.identity_public_keys.clone())
        .bind(credentials.signed_account_state.clone())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        one_row(done.rows_affected())?;
        let revoked = match revoke {
            SessionRevocation::None => 0,
            SessionRevocation::All => revoke_sessions_in_tx(&mut tx, id, None).await?,
            SessionRevocation::AllExcept(keep) => {
                revoke_sessions_in_tx(&mut tx, id, Some(keep)).await?
            }
        };
        self.finish(tx, audit).await?;
        Ok(revoked)
    }

    /// Replaces the signed account state alone.
    pub async fn set_signed_account_state(
        &self,
        id: UserId,
        state: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET signed_account_state = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(state.to_vec())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Sets the MFA settings. `Invalid` if enabled without a secret.
    pub async fn set_mfa(
        &self,
        id: UserId,
        mfa: &MfaSettings,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        if mfa.enabled && mfa.totp_secret.is_none() {
            return Err(StoreError::Invalid(
                "MFA cannot be enabled without a TOTP secret".into(),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = $2, mfa_enabled = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(mfa.totp_secret.clone())
        .bind(rows::flag_value(mfa.enabled))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Replaces every recovery code of the user (used or not) with `code_hashes` (hashed by
    /// the server). `Invalid` if two hashes are equal.
    pub async fn replace_recovery_codes(
        &self,
        id: UserId,
        code_hashes: &[Vec<u8>],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        for hash in code_hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)",
            )
            .bind(id.to_string())
            .bind(hash.clone())
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Invalid("recovery code hashes must be distinct".into())
                }
                other => other,
            })?;
        }
        self.finish(tx, audit).await
    }

    /// Consumes the unused recovery code with this hash. `Ok(true)` exactly once per code,
    /// even under concurrent calls; `Ok(false)` if there is no such unused code (and then
    /// `audit` is not appended: the server records the failure with
    /// [`MainStore::append_audit`]).
    pub async fn consume_recovery_code(
        &self,
        id: UserId,
        code_hash: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(id.to_string())
        .bind(code_hash.to_vec())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.finish(tx, audit).await?;
        Ok(true)
    }

    /// How many unused recovery codes the user has left.
    pub async fn unused_recovery_codes(&self, id: UserId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_one(&self.db.pool)
        .await?;
        Ok(rows::count(n))
    }

    /// Deletes a user with their devices, sessions, memberships and recovery codes.
    /// `Conflict` if they are the only owner of a workspace (delete the workspace or promote
    /// another owner first).
    pub async fn delete_user(
        &self,
        id: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let mut owned: Vec<String> = sqlx::query_scalar(
            "SELECT workspace_id FROM members WHERE user_id = $1 AND role = 'owner'",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        // Lock in a fixed order so two concurrent deletions cannot deadlock.
        owned.sort();
        for ws in &owned {
            lock_workspace(&mut tx, &self.db, ws).await?;
            let others: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM members \
                 WHERE workspace_id = $1 AND role = 'owner' AND user_id <> $2",
            )
            .bind(ws.clone())
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if others == 0 {
                return Err(StoreError::Conflict(
                    "the user is the last owner of a workspace".into(),
                ));
            }
        }
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }
}
