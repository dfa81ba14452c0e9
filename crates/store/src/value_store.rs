//! The value store (DESIGN §6): encrypted values keyed by random pointers, each tagged with
//! the id of the server data key it is encrypted under. Values arrive already encrypted; the
//! store never learns what they are or whose. It lives in its own database, opened from its
//! own URL, and is joined to the main store only by the pointers.
//!
//! Attachment blobs are stored as ordered **segments** (`blob id:32 ‖ seq`), each encrypted
//! by the caller and tagged with its data key like a value, so a blob of any size is written
//! and read one segment at a time in constant memory.

use std::collections::HashMap;
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

/// Most pointers one [`ValueStore::get_many`] query binds (larger requests are split).
pub const GET_MANY_MAX: usize = 500;

/// Most rows one INSERT of [`ValueStore::put_many`] binds (3 parameters each, well under
/// SQLite's and PostgreSQL's parameter limits); larger batches take several, in one transaction.
pub const PUT_MANY_ROWS: usize = 300;

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

/// One stored segment of a blob.
#[derive(Clone, PartialEq, Eq)]
pub struct BlobSegment {
    /// Its position in the blob (0, 1, …).
    pub seq: u64,
    /// The data key it is encrypted under.
    pub data_key_id: DataKeyId,
    /// The encrypted bytes.
    pub data: Vec<u8>,
}

impl fmt::Debug for BlobSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobSegment")
            .field("seq", &self.seq)
            .field("data_key_id", &self.data_key_id)
            .field("data", &Redacted(&self.data))
            .finish()
    }
}

fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Invalid("segment number too large".into()))
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

    /// Stores every `(pointer, data key id, bytes)` of `values` in **one transaction**, a
    /// multi-row INSERT per [`PUT_MANY_ROWS`]: all or none (a duplicate pointer fails the whole
    /// batch). One commit instead of one per value, which is what a vault rotation of
    /// thousands of items spends its time on otherwise.
    pub async fn put_many(
        &self,
        values: &[(ValuePointer, DataKeyId, &[u8])],
    ) -> Result<(), StoreError> {
        if values.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for chunk in values.chunks(PUT_MANY_ROWS) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO stored_values (pointer, data_key_id, data) VALUES {}",
                rows.join(", ")
            );
            // only numbered placeholders are interpolated; every value is a bind parameter
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (pointer, key, data) in chunk {
                q = q
                    .bind(pointer.as_bytes().to_vec())
                    .bind(key.as_bytes().to_vec())
                    .bind(data.to_vec());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
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

    /// The values under `pointers` (at most [`GET_MANY_MAX`]), in one query; pointers with no
    /// value are absent from the answer.
    pub async fn get_many(
        &self,
        pointers: &[ValuePointer],
    ) -> Result<HashMap<ValuePointer, StoredValue>, StoreError> {
        let mut out = HashMap::with_capacity(pointers.len());
        for chunk in pointers.chunks(GET_MANY_MAX) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT pointer, data_key_id, data FROM stored_values WHERE pointer IN ({})",
                marks.join(", ")
            );
            // only numbered placeholders are interpolated; every pointer is a bind parameter
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                q = q.bind(p.as_bytes().to_vec());
            }
            for row in q.fetch_all(&self.db.pool).await? {
                out.insert(
                    ValuePointer::from_bytes(rows::array(&row, "pointer")?),
                    StoredValue {
                        data_key_id: DataKeyId::from_bytes(rows::array(&row, "data_key_id")?),
                        data: rows::bytes(&row, "data")?,
                    },
                );
            }
        }
        Ok(out)
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

    /// Stores one segment of a blob. `Conflict` if that position is taken.
    pub async fn put_segment(
        &self,
        blob: &[u8; 32],
        seq: u64,
        data_key_id: DataKeyId,
        data: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO blob_segments (blob_id, seq, data_key_id, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(blob.to_vec())
        .bind(seq_i64(seq)?)
        .bind(data_key_id.as_bytes().to_vec())
        .bind(data.to_vec())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// One segment of a blob. `NotFound` if missing.
    pub async fn segment(&self, blob: &[u8; 32], seq: u64) -> Result<BlobSegment, StoreError> {
        let row = sqlx::query(
            "SELECT data_key_id, data FROM blob_segments WHERE blob_id = $1 AND seq = $2",
        )
        .bind(blob.to_vec())
        .bind(seq_i64(seq)?)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(BlobSegment {
            seq,
            data_key_id: DataKeyId::from_bytes(rows::array(&row, "data_key_id")?),
            data: rows::bytes(&row, "data")?,
        })
    }

    /// Deletes every segment of a blob; returns how many there were.
    pub async fn delete_blob(&self, blob: &[u8; 32]) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM blob_segments WHERE blob_id = $1")
            .bind(blob.to_vec())
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Segments under `data_key_id` as `(blob, seq)`, in order, after `after` (exclusive), at
    /// most `limit` (capped at [`POINTER_PAGE_MAX`]): the re-wrap job pages through them.
    pub async fn segments_by_key(
        &self,
        data_key_id: DataKeyId,
        after: Option<([u8; 32], u64)>,
        limit: u32,
    ) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        let limit = i64::from(limit.min(POINTER_PAGE_MAX));
        let found = match after {
            None => {
                sqlx::query(
                    "SELECT blob_id, seq FROM blob_segments WHERE data_key_id = $1 \
                     ORDER BY blob_id, seq LIMIT $2",
                )
                .bind(data_key_id.as_bytes().to_vec())
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?
            }
            Some((blob, seq)) => {
                sqlx::query(
                    "SELECT blob_id, seq FROM blob_segments WHERE data_key_id = $1 \
                     AND (blob_id > $2 OR (blob_id = $2 AND seq > $3)) \
                     ORDER BY blob_id, seq LIMIT $4",
                )
                .bind(data_key_id.as_bytes().to_vec())
                .bind(blob.to_vec())
                .bind(seq_i64(seq)?)
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?
            }
        };
        found
            .iter()
            .map(|row| {
                Ok((
                    rows::array(row, "blob_id")?,
                    u64::try_from(rows::int(row, "seq")?).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Re-wraps one segment, only if it is still under `expected_key_id` (see
    /// [`ValueStore::replace`]).
    pub async fn replace_segment(
        &self,
        blob: &[u8; 32],
        seq: u64,
        expected_key_id: DataKeyId,
        new_key_id: DataKeyId,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE blob_segments SET data_key_id = $4, data = $5 \
             WHERE blob_id = $1 AND seq = $2 AND data_key_id = $3",
        )
        .bind(blob.to_vec())
        .bind(seq_i64(seq)?)
        .bind(expected_key_id.as_bytes().to_vec())
        .bind(new_key_id.as_bytes().to_vec())
        .bind(data.to_vec())
        .execute(&self.db.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// How many segments are under `data_key_id`.
    pub async fn count_segments_by_key(&self, data_key_id: DataKeyId) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM blob_segments WHERE data_key_id = $1")
                .bind(data_key_id.as_bytes().to_vec())
                .fetch_one(&self.db.pool)
                .await?;
        Ok(rows::count(n))
    }
}
