//! Devices: one client install of one user, with its public keys, its certificate (once
//! trusted), its trust state and the server's share of its key-encryption key.

use std::fmt;

use coffer_proto::{DeviceId, DeviceState, UserId, VaultId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::MainStore;
use super::sessions::{NewSession, Session, insert_session, revoke_device_sessions_in_tx};
use super::users::one_row;
use super::vaults::NewGrant;
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::db::{check_text, now};
use crate::rows::{self, Redacted, RedactedOpt};

/// Reads one device on `conn`.
pub(crate) async fn device_on(
    conn: &mut AnyConnection,
    id: DeviceId,
) -> Result<Device, StoreError> {
    let row = sqlx::query("SELECT * FROM devices WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    device_from_row(&row)
}

/// A device to create.
#[derive(Clone)]
pub struct NewDevice {
    /// Chosen by the caller.
    pub id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// A name for people ("laptop", "CI runner"). Not empty.
    pub name: String,
    /// Its public keys (Ed25519 + X25519).
    pub public_keys: Vec<u8>,
    /// Its certificate, if it already has one (the first device self-certifies).
    pub certificate: Option<Vec<u8>>,
    /// Its initial state (usually pending; trusted for the first device).
    pub state: DeviceState,
    /// The server's share of the device KEK, encrypted by the server.
    pub server_share: Vec<u8>,
}

impl fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewDevice")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("public_keys", &Redacted(&self.public_keys))
            .field("certificate", &RedactedOpt(self.certificate.as_deref()))
            .field("state", &self.state)
            .field("server_share", &Redacted(&self.server_share))
            .finish()
    }
}

/// A stored device.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// Its name.
    pub name: String,
    /// Its public keys.
    pub public_keys: Vec<u8>,
    /// Its certificate, once it has one.
    pub certificate: Option<Vec<u8>>,
    /// Its trust state.
    pub state: DeviceState,
    /// The server's share of its KEK (encrypted by the server).
    pub server_share: Vec<u8>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last time it was seen (unix seconds), as recorded by [`MainStore::touch_device`].
    pub last_seen_at: i64,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("public_keys", &Redacted(&self.public_keys))
            .field("certificate", &RedactedOpt(self.certificate.as_deref()))
            .field("state", &self.state)
            .field("server_share", &Redacted(&self.server_share))
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish()
    }
}

fn device_from_row(row: &AnyRow) -> Result<Device, StoreError> {
    Ok(Device {
        id: rows::parsed(row, "id")?,
        user_id: rows::parsed(row, "user_id")?,
        name: rows::text(row, "name")?,
        public_keys: rows::bytes(row, "public_keys")?,
        certificate: rows::opt_bytes(row, "certificate")?,
        state: rows::parsed(row, "state")?,
        server_share: rows::bytes(row, "server_share")?,
        created_at: rows::int(row, "created_at")?,
        last_seen_at: rows::int(row, "last_seen_at")?,
    })
}

/// Inserts a device inside a write transaction.
pub(crate) async fn insert_device(
    conn: &mut AnyConnection,
    new: &NewDevice,
) -> Result<Device, StoreError> {
    check_text("device name", &new.name, false)?;
    let t = now();
    sqlx::query(
        "INSERT INTO devices (id, user_id, name, public_keys, certificate, state, \
         server_share, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(new.id.to_string())
    .bind(new.user_id.to_string())
    .bind(new.name.clone())
    .bind(new.public_keys.clone())
    .bind(new.certificate.clone())
    .bind(new.state.as_str())
    .bind(new.server_share.clone())
    .bind(t)
    .execute(&mut *conn)
    .await?;
    Ok(Device {
        id: new.id,
        user_id: new.user_id,
        name: new.name.clone(),
        public_keys: new.public_keys.clone(),
        certificate: new.certificate.clone(),
        state: new.state,
        server_share: new.server_share.clone(),
        created_at: t,
        last_seen_at: t,
    })
}

/// Makes pending device `id` trusted with `certificate` and stores the grants issued to it,
/// inside the caller's write transaction. `Conflict` if it is not pending, `NotFound` if unknown.
pub(crate) async fn approve_on(
    conn: &mut AnyConnection,
    id: DeviceId,
    certificate: &[u8],
    grants: &[(VaultId, NewGrant)],
) -> Result<(), StoreError> {
    let t = now();
    for (vault, g) in grants {
        super::vaults::insert_grant(&mut *conn, *vault, g, t).await?;
    }
    let done = sqlx::query(
        "UPDATE devices SET state = 'trusted', certificate = $2 \
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id.to_string())
    .bind(certificate.to_vec())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        let exists = sqlx::query("SELECT id FROM devices WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        return Err(match exists {
            None => StoreError::NotFound,
            Some(_) => StoreError::Conflict("device is not pending".into()),
        });
    }
    Ok(())
}

/// Revokes device `id` and its sessions and flags its user's vaults for rotation, inside the
/// caller's write transaction. Returns how many sessions were revoked.
pub(crate) async fn revoke_on(conn: &mut AnyConnection, id: DeviceId) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT user_id FROM devices WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let user: UserId = rows::parsed(&row, "user_id")?;
    let done = sqlx::query("UPDATE devices SET state = 'revoked' WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    one_row(done.rows_affected())?;
    let n = revoke_device_sessions_in_tx(&mut *conn, id).await?;
    super::sharing::after_device_revoked(&mut *conn, user, id).await?;
    Ok(n)
}

impl MainStore {
    /// Creates a device. `Conflict` if the id is taken; `NotFound` if the user does not exist.
    pub async fn create_device(
        &self,
        new: &NewDevice,
        audit: Option<&AuditEvent>,
    ) -> Result<Device, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let device = insert_device(&mut tx, new).await?;
        self.finish(tx, audit).await?;
        Ok(device)
    }

    /// Creates a device and a session on it in one transaction (a login from a new device).
    pub async fn create_device_with_session(
        &self,
        device: &NewDevice,
        session: &NewSession,
        audit: Option<&AuditEvent>,
    ) -> Result<(Device, Session), StoreError> {
        if session.device_id != device.id || session.user_id != device.user_id {
            return Err(StoreError::Invalid(
                "the session must be on the new device, for its user".into(),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let dev = insert_device(&mut tx, device).await?;
        let ses = insert_session(&mut tx, session).await?;
        self.finish(tx, audit).await?;
        Ok((dev, ses))
    }

    /// The device with this id.
    pub async fn device(&self, id: DeviceId) -> Result<Device, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        device_on(&mut conn, id).await
    }

    /// The user's devices, oldest first.
    pub async fn list_devices(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        let found = sqlx::query("SELECT * FROM devices WHERE user_id = $1 ORDER BY created_at, id")
            .bind(user.to_string())
            .fetch_all(&self.db.pool)
            .await?;
        found.iter().map(device_from_row).collect()
    }

    /// Approves a pending device: stores its certificate, makes it trusted and stores the
    /// vault-key grants issued to it, in one transaction. `Conflict` if it is not pending (or a
    /// grant repeats one already stored).
    pub async fn approve_device(
        &self,
        id: DeviceId,
        certificate: &[u8],
        grants: &[(VaultId, NewGrant)],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        approve_on(&mut tx, id, certificate, grants).await?;
        self.finish(tx, audit).await
    }

    /// Revokes a device and all its sessions in one transaction (idempotent). Returns how
    /// many sessions were revoked.
    pub async fn revoke_device(
        &self,
        id: DeviceId,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let n = revoke_on(&mut tx, id).await?;
        self.finish(tx, audit).await?;
        Ok(n)
    }

    /// Replaces the device's certificate (e.g. re-certified after an identity reset).
    pub async fn set_device_certificate(
        &self,
        id: DeviceId,
        certificate: Option<&[u8]>,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE devices SET certificate = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(certificate.map(<[u8]>::to_vec))
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Renames the device.
    pub async fn rename_device(
        &self,
        id: DeviceId,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        check_text("device name", name, false)?;
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE devices SET name = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(name.to_owned())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Replaces the server's share of the device KEK.
    pub async fn set_device_server_share(
        &self,
        id: DeviceId,
        server_share: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE devices SET server_share = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(server_share.to_vec())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Records that the device was seen at `at`.
    pub async fn touch_device(
        &self,
        id: DeviceId,
        at: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE devices SET last_seen_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Deletes the device and its sessions.
    pub async fn delete_device(
        &self,
        id: DeviceId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }
}
