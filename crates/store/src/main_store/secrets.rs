//! Server secrets (named byte strings, e.g. the OPAQUE server setup wrapped by the KMS) and
//! server data keys (the server-side layer over every stored value, DESIGN §3), with their
//! rotation: at most one key is `current` (used for new writes); older ones are `retired`
//! (still open old values until re-wrapped) and deleted once nothing uses them.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;

use super::MainStore;
use super::users::one_row;
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::binary_ids::DataKeyId;
use crate::db::{check_text, now};
use crate::rows::{self, Redacted};

/// A named server secret. Its value is already wrapped by the caller (e.g. by the KMS).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSecret {
    /// Its name.
    pub name: String,
    /// Its (wrapped) value.
    pub value: Vec<u8>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last replacement (unix seconds).
    pub updated_at: i64,
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSecret")
            .field("name", &self.name)
            .field("value", &Redacted(&self.value))
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// The state of a data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKeyState {
    /// Used for new writes. At most one key is current.
    Current,
    /// No longer used for writes; still opens the values not yet re-wrapped.
    Retired,
}

impl DataKeyState {
    /// The stored form: `current` or `retired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DataKeyState::Current => "current",
            DataKeyState::Retired => "retired",
        }
    }
}

impl FromStr for DataKeyState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "current" => Ok(DataKeyState::Current),
            "retired" => Ok(DataKeyState::Retired),
            _ => Err(StoreError::Invalid("unknown data key state".into())),
        }
    }
}

/// A server data key, wrapped by the KMS.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey {
    /// Its id (recorded with every value encrypted under it).
    pub id: DataKeyId,
    /// The key, wrapped by the KMS.
    pub wrapped_key: Vec<u8>,
    /// Current or retired.
    pub state: DataKeyState,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// When it was retired (unix seconds).
    pub retired_at: Option<i64>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("wrapped_key", &Redacted(&self.wrapped_key))
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

fn secret_from_row(row: &AnyRow) -> Result<ServerSecret, StoreError> {
    Ok(ServerSecret {
        name: rows::text(row, "name")?,
        value: rows::bytes(row, "value")?,
        created_at: rows::int(row, "created_at")?,
        updated_at: rows::int(row, "updated_at")?,
    })
}

fn data_key_from_row(row: &AnyRow) -> Result<DataKey, StoreError> {
    Ok(DataKey {
        id: DataKeyId::from_bytes(rows::array(row, "id")?),
        wrapped_key: rows::bytes(row, "wrapped_key")?,
        state: rows::parsed(row, "state")?,
        created_at: rows::int(row, "created_at")?,
        retired_at: rows::opt_int(row, "retired_at")?,
    })
}

impl MainStore {
    /// Stores a new secret. `Conflict` if the name exists: when several servers start at
    /// once, one wins and the others read the winner's value with
    /// [`MainStore::server_secret`].
    pub async fn create_server_secret(
        &self,
        name: &str,
        value: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<ServerSecret, StoreError> {
        check_text("secret name", name, false)?;
        let t = now();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at, updated_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(name.to_owned())
        .bind(value.to_vec())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(ServerSecret {
            name: name.to_owned(),
            value: value.to_vec(),
            created_at: t,
            updated_at: t,
        })
    }

    /// Stores a secret, replacing any value under that name.
    pub async fn put_server_secret(
        &self,
        name: &str,
        value: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        check_text("secret name", name, false)?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(name.to_owned())
        .bind(value.to_vec())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await
    }

    /// The secret with this name.
    pub async fn server_secret(&self, name: &str) -> Result<ServerSecret, StoreError> {
        check_text("secret name", name, false)?;
        let row = sqlx::query("SELECT * FROM server_secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        secret_from_row(&row)
    }

    /// Deletes the secret with this name.
    pub async fn delete_server_secret(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        check_text("secret name", name, false)?;
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM server_secrets WHERE name = $1")
            .bind(name.to_owned())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Adds a new data key as the current one and retires the previous current key, in one
    /// transaction. `Conflict` if the id exists.
    pub async fn rotate_data_key(
        &self,
        id: DataKeyId,
        wrapped_key: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<DataKey, StoreError> {
        let t = now();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE data_keys SET state = 'retired', retired_at = $1 WHERE state = 'current'",
        )
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO data_keys (id, wrapped_key, state, created_at, retired_at) \
             VALUES ($1, $2, 'current', $3, NULL)",
        )
        .bind(id.as_bytes().to_vec())
        .bind(wrapped_key.to_vec())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(DataKey {
            id,
            wrapped_key: wrapped_key.to_vec(),
            state: DataKeyState::Current,
            created_at: t,
            retired_at: None,
        })
    }

    /// The current data key. `NotFound` before the first rotation.
    pub async fn current_data_key(&self) -> Result<DataKey, StoreError> {
        let row = sqlx::query("SELECT * FROM data_keys WHERE state = 'current'")
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        data_key_from_row(&row)
    }

    /// The data key with this id.
    pub async fn data_key(&self, id: DataKeyId) -> Result<DataKey, StoreError> {
        let row = sqlx::query("SELECT * FROM data_keys WHERE id = $1")
            .bind(id.as_bytes().to_vec())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        data_key_from_row(&row)
    }

    /// Every data key, oldest first.
    pub async fn list_data_keys(&self) -> Result<Vec<DataKey>, StoreError> {
        let found = sqlx::query("SELECT * FROM data_keys ORDER BY created_at, id")
            .fetch_all(&self.db.pool)
            .await?;
        found.iter().map(data_key_from_row).collect()
    }

    /// Deletes a retired data key (call it once the value store holds no value under it).
    /// `Conflict` if it is the current key.
    pub async fn delete_data_key(
        &self,
        id: DataKeyId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM data_keys WHERE id = $1 AND state = 'retired'")
            .bind(id.as_bytes().to_vec())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT id FROM data_keys WHERE id = $1")
                .bind(id.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match exists {
                None => StoreError::NotFound,
                Some(_) => StoreError::Conflict("the current data key cannot be deleted".into()),
            });
        }
        self.finish(tx, audit).await
    }
}
