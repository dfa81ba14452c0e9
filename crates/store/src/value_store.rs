//! The value store (DESIGN §6): encrypted values keyed by random pointers, each tagged with
//! the id of the server data key it is encrypted under. Values arrive already encrypted; the
//! store never learns what they are or whose. It lives in its own database, opened from its
//! own URL, and is joined to the main store only by the pointers.

use std::fmt;

use sqlx::migrate::Migrator;

use crate::binary_ids::{DataKeyId, ValuePointer};
use crate::db::{Backend, Db, Migrations, StoreOptions};
use crate::rows::{self, Redacted};
use crate::{DatabaseUrl, StoreError};

static SQLITE: Migrator = sqlx::migrate!("./migrations/value/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/value/postgres");

const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
    table: "_coffer_value_migrations",
};

/// Most pointers one [`ValueStore::pointers_by_key`] call returns.
pub const POINTER_PAGE_MAX: u32 = 10_000;

/// A stored value.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredValue {
    /// The data key it is encrypted under.
    pub data_key_id: DataKeyId,
    /// The encrypted bytes.
    pub data: Vec<u8>,
}

impl fmt::Debug for StoredValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredValue")
            .field("data_key_id", &self.data_key_id)
            .field("data", &Redacted(&self.data))
            .finish()
    }
}

/// A handle on the value store: a connection pool. Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct ValueStore {
    db: Db,
}

impl ValueStore {
    /// Opens the value store at `url` (`sqlite://PATH` or `postgres://…`), creating the SQLite
    /// file if missing, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    /// [`ValueStore::open`] with explicit pool settings.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        Ok(Self {
            db: Db::open(url, options, &MIGRATIONS).await?,
        })
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// The URL it was opened with (its `Display` hides the password).
    pub fn url(&self) -> &DatabaseUrl {
        &self.db.url
    }

    /// Closes the pool, waiting for running operations. Later calls fail.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Stores a new value. `Conflict` if the pointer is taken (never overwrites).
    pub async fn put(
        &self,
        pointer: ValuePointer,
        data_key_id: DataKeyId,
        data: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO stored_values (pointer, data_key_id, data) VALUES ($1, $2, $3)")
            .bind(pointer.as_bytes().to_vec())
            .bind(data_key_id.as_bytes().to_vec())
            .bind(data.to_vec())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// The value under `pointer`.
    pub async fn get(&self, pointer: ValuePointer) -> Result<StoredValue, StoreError> {
        let row = sqlx::query("SELECT data_key_id, data FROM stored_values WHERE pointer = $1")
            .bind(pointer.as_bytes().to_vec())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(StoredValue {
            data_key_id: DataKeyId::from_bytes(rows::array(&row, "data_key_id")?),
            data: rows::bytes(&row, "data")?,
        })
    }

    /// Deletes the value under `pointer`. `NotFound` if there is none.
    pub async fn delete(&self, pointer: ValuePointer) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM stored_values WHERE pointer = $1")
            .bind(pointer.as_bytes().to_vec())
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Re-wraps a value: replaces its bytes and data key id in one atomic step, but only if
    /// it is still under `expected_key_id` (so a re-wrap job never overwrites a value that
    /// changed meanwhile). `NotFound` if there is no value; `Conflict` if its key differs.
    pub async fn replace(
        &self,
        pointer: ValuePointer,
        expected_key_id: DataKeyId,
        new_key_id: DataKeyId,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE stored_values SET data_key_id = $3, data = $4 \
             WHERE pointer = $1 AND data_key_id = $2",
        )
        .bind(pointer.as_bytes().to_vec())
        .bind(expected_key_id.as_bytes().to_vec())
        .bind(new_key_id.as_bytes().to_vec())
        .bind(data.to_vec())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT pointer FROM stored_values WHERE pointer = $1")
                .bind(pointer.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match exists {
                None => StoreError::NotFound,
                Some(_) => StoreError::Conflict("value is under another data key".into()),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Pointers of the values under `data_key_id`, in byte order, after `after` (exclusive)
    /// when given, at most `limit` (capped at [`POINTER_PAGE_MAX`]). Page through them by
    /// passing the last pointer of a page as `after`.
    pub async fn pointers_by_key(
        &self,
        data_key_id: DataKeyId,
        after: Option<ValuePointer>,
        limit: u32,
    ) -> Result<Vec<ValuePointer>, StoreError> {
        let limit = i64::from(limit.min(POINTER_PAGE_MAX));
        let found = match after {
            None => {
                sqlx::query(
                    "SELECT pointer FROM stored_values WHERE data_key_id = $1 \
                     ORDER BY pointer LIMIT $2",
                )
                .bind(data_key_id.as_bytes().to_vec())
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?
            }
            Some(after) => {
                sqlx::query(
                    "SELECT pointer FROM stored_values WHERE data_key_id = $1 AND pointer > $2 \
                     ORDER BY pointer LIMIT $3",
                )
                .bind(data_key_id.as_bytes().to_vec())
                .bind(after.as_bytes().to_vec())
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?
            }
        };
        found
            .iter()
            .map(|row| rows::array(row, "pointer").map(ValuePointer::from_bytes))
            .collect()
    }

    /// How many values are under `data_key_id`.
    pub async fn count_by_key(&self, data_key_id: DataKeyId) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM stored_values WHERE data_key_id = $1")
                .bind(data_key_id.as_bytes().to_vec())
                .fetch_one(&self.db.pool)
                .await?;
        Ok(rows::count(n))
    }
}
