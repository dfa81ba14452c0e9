//! Local vaults (docs/protocol.md §15–§16): the vault rows (counter, epoch and compact manifest),
//! their members and roles, vault-key grants, items with their last write, the kept revisions
//! of each item, and the attachments registered under an item.
//!
//! The main store holds only ids, revisions, epochs, counters, sizes and *value pointers*: the
//! sealed item bytes and attachment segments live in the value store, a separate database. A
//! caller therefore writes the value first and then calls the main-store method; when that
//! fails (conflict, bad input, crash) the value is an orphan the caller deletes, best effort.
//! Methods that drop values (pruning, item or vault deletion) return the pointers they
//! unlinked, to be deleted from the value store **after** the commit.
//!
//! Writes to one vault are serialised on its row (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR
//! UPDATE` on PostgreSQL), so the counter and revision checks of [`MainStore::write_item`] hold
//! under concurrent writers. A deleted vault keeps its row (`deleted`), so its id is never
//! reused and it reads as `NotFound`.

use std::fmt;

use coffer_proto::vault::{GrantRecipient, VaultRole};
use coffer_proto::{DeviceId, ItemId, UserId, VaultId, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Transaction};

use super::MainStore;
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::binary_ids::ValuePointer;
use crate::db::{Backend, now};
use crate::rows::{self, Redacted};

/// Most rows one page read returns.
pub const ITEM_PAGE_MAX: u32 = 1000;

/// A vault-key grant to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// To whom it is sealed.
    pub recipient: GrantRecipient,
    /// The key epoch it carries.
    pub epoch: u32,
    /// The grant bytes (protocol.md §5.3), opaque to the store.
    pub grant: Vec<u8>,
    /// The Ed25519 key that signed it (from the grant's header).
    pub signer_key: [u8; 32],
    /// The device owning that key, when the server knows it.
    pub signer_device: Option<DeviceId>,
}

impl fmt::Debug for NewGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewGrant")
            .field("recipient", &self.recipient)
            .field("epoch", &self.epoch)
            .field("grant", &Redacted(&self.grant))
            .field("signer_device", &self.signer_device)
            .finish_non_exhaustive()
    }
}

/// A stored grant (same fields as [`NewGrant`]).
pub type StoredGrant = NewGrant;

/// A vault to create, with its record (item [`coffer_proto::vault::VAULT_RECORD_ITEM`],
/// revision 1, counter 0) already in the value store.
#[derive(Debug, Clone)]
pub struct NewVault {
    /// Chosen by the client.
    pub id: VaultId,
    /// Its workspace, none for a personal vault.
    pub workspace_id: Option<WorkspaceId>,
    /// The creating user: owner and first manager.
    pub owner: UserId,
    /// The first key epoch.
    pub epoch: u32,
    /// The genesis manifest, compact form (counter 0).
    pub manifest: Vec<u8>,
    /// The device that signed it, when known.
    pub manifest_signer: Option<DeviceId>,
    /// The vault record's value.
    pub record: ValuePointer,
    /// The epoch the record is sealed under.
    pub record_epoch: u32,
    /// The first grants.
    pub grants: Vec<NewGrant>,
    /// The creator's role statement naming itself manager (protocol.md §18.6), stored with its
    /// membership.
    pub role_statement: Option<Vec<u8>>,
}

/// A stored vault.
#[derive(Clone, PartialEq, Eq)]
pub struct Vault {
    /// Its id.
    pub id: VaultId,
    /// Its workspace (none: personal).
    pub workspace_id: Option<WorkspaceId>,
    /// The creating user.
    pub owner: UserId,
    /// The current key epoch.
    pub epoch: u32,
    /// The current manifest counter.
    pub counter: u64,
    /// The current manifest, compact form.
    pub manifest: Vec<u8>,
    /// The device that signed the current manifest, when known.
    pub manifest_signer: Option<DeviceId>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last write (unix seconds).
    pub updated_at: i64,
    /// Set when a member was removed or one of their devices revoked since the last key
    /// rotation: a manager's device should rotate the vault to a new epoch.
    pub rotation_due: bool,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("owner", &self.owner)
            .field("epoch", &self.epoch)
            .field("counter", &self.counter)
            .field("manifest", &Redacted(&self.manifest))
            .field("manifest_signer", &self.manifest_signer)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("rotation_due", &self.rotation_due)
            .finish()
    }
}

/// A vault with the role of one user in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultMembership {
    /// The vault.
    pub vault: Vault,
    /// The user's role.
    pub role: VaultRole,
}

/// An item's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRow {
    /// The item.
    pub item_id: ItemId,
    /// Its current revision.
    pub revision: u64,
    /// Its key epoch.
    pub epoch: u32,
    /// The manifest counter of its last write.
    pub counter: u64,
    /// Deleted (a tombstone, no value).
    pub deleted: bool,
    /// Its sealed bytes in the value store (none when deleted).
    pub value: Option<ValuePointer>,
    /// Last write (unix seconds).
    pub updated_at: i64,
}

/// One kept revision of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionRow {
    /// The revision number.
    pub revision: u64,
    /// Its key epoch.
    pub epoch: u32,
    /// The manifest counter of the write that made it.
    pub counter: u64,
    /// Its sealed bytes (none for a deletion).
    pub value: Option<ValuePointer>,
    /// When it was written (unix seconds).
    pub created_at: i64,
}

/// One item write, checked against the vault's counter and the item's revision.
#[derive(Debug, Clone)]
pub struct ItemWrite {
    /// The vault.
    pub vault: VaultId,
    /// The item.
    pub item: ItemId,
    /// The vault counter the write is based on.
    pub base_counter: u64,
    /// The item revision it is based on (0: the item must not exist).
    pub base_revision: u64,
    /// The new revision (`base_revision + 1`).
    pub revision: u64,
    /// The item's key epoch (at most the vault's).
    pub epoch: u32,
    /// The sealed bytes already in the value store; none deletes the item.
    pub value: Option<ValuePointer>,
    /// The new manifest, compact form (counter `base_counter + 1`).
    pub manifest: Vec<u8>,
    /// The device that signed it, when known.
    pub manifest_signer: Option<DeviceId>,
    /// How many revisions of the item to keep (at least 1); older ones are pruned.
    pub keep_revisions: u32,
}

/// What [`MainStore::write_item`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWritten {
    /// The vault's counter now.
    pub counter: u64,
    /// The item's revision now.
    pub revision: u64,
    /// Values of pruned revisions: delete them from the value store.
    pub pruned: Vec<ValuePointer>,
}

/// What a vault deletion unlinked: delete these from the value store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultRemains {
    /// Item and revision values, and the server shares of recovery keys.
    pub values: Vec<ValuePointer>,
    /// Attachment blob ids.
    pub blobs: Vec<[u8; 32]>,
}

/// An attachment registered under an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment {
    /// The vault.
    pub vault: VaultId,
    /// The item.
    pub item: ItemId,
    /// The client-chosen attachment id.
    pub attachment: uuid::Uuid,
    /// Its blob in the value store's segments.
    pub blob_id: [u8; 32],
    /// Bytes stored.
    pub size: u64,
    /// Segments stored.
    pub segments: u64,
    /// When it was registered (unix seconds).
    pub created_at: i64,
}

/// Which items a page read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemSelection {
    /// Every live item (a full sync).
    Live,
    /// Every item, tombstones included, whose last write had a counter above this one.
    ChangedAfter(u64),
}

pub(super) fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} is too large")))
}

pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn to_u32(col: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("column {col} out of range")))
}

fn opt_pointer(row: &AnyRow, col: &str) -> Result<Option<ValuePointer>, StoreError> {
    match rows::opt_bytes(row, col)? {
        None => Ok(None),
        Some(b) => {
            let arr: [u8; 32] = b
                .try_into()
                .map_err(|_| StoreError::Backend(format!("column {col}: expected 32 bytes")))?;
            Ok(Some(ValuePointer::from_bytes(arr)))
        }
    }
}

fn vault_from_row(row: &AnyRow) -> Result<Vault, StoreError> {
    Ok(Vault {
        id: rows::parsed(row, "id")?,
        workspace_id: rows::opt_parsed(row, "workspace_id")?,
        owner: rows::parsed(row, "owner_id")?,
        epoch: to_u32("epoch", rows::int(row, "epoch")?)?,
        counter: to_u64(rows::int(row, "counter")?),
        manifest: rows::bytes(row, "manifest")?,
        manifest_signer: rows::opt_parsed(row, "manifest_signer")?,
        created_at: rows::int(row, "created_at")?,
        updated_at: rows::int(row, "updated_at")?,
        rotation_due: rows::flag(row, "rotation_due")?,
    })
}

pub(super) fn item_from_row(row: &AnyRow) -> Result<ItemRow, StoreError> {
    Ok(ItemRow {
        item_id: rows::parsed(row, "item_id")?,
        revision: to_u64(rows::int(row, "revision")?),
        epoch: to_u32("epoch", rows::int(row, "epoch")?)?,
        counter: to_u64(rows::int(row, "counter")?),
        deleted: rows::flag(row, "deleted")?,
        value: opt_pointer(row, "value_ptr")?,
        updated_at: rows::int(row, "updated_at")?,
    })
}

fn revision_from_row(row: &AnyRow) -> Result<RevisionRow, StoreError> {
    Ok(RevisionRow {
        revision: to_u64(rows::int(row, "revision")?),
        epoch: to_u32("epoch", rows::int(row, "epoch")?)?,
        counter: to_u64(rows::int(row, "counter")?),
        value: opt_pointer(row, "value_ptr")?,
        created_at: rows::int(row, "created_at")?,
    })
}

pub(super) fn grant_from_row(row: &AnyRow) -> Result<StoredGrant, StoreError> {
    let id = rows::text(row, "recipient_id")?;
    let bad = |_| StoreError::Backend("column recipient_id: not an id".into());
    let recipient = match rows::text(row, "recipient_kind")?.as_str() {
        "device" => GrantRecipient::Device(id.parse().map_err(bad)?),
        "user" => GrantRecipient::User(id.parse().map_err(bad)?),
        _ => return Err(StoreError::Backend("column recipient_kind: unknown".into())),
    };
    Ok(StoredGrant {
        recipient,
        epoch: to_u32("epoch", rows::int(row, "epoch")?)?,
        grant: rows::bytes(row, "grant_bytes")?,
        signer_key: rows::array(row, "signer_key")?,
        signer_device: rows::opt_parsed(row, "signer_device")?,
    })
}

fn attachment_from_row(row: &AnyRow) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        vault: rows::parsed(row, "vault_id")?,
        item: rows::parsed(row, "item_id")?,
        attachment: rows::parsed(row, "attachment_id")?,
        blob_id: rows::array(row, "blob_id")?,
        size: to_u64(rows::int(row, "size")?),
        segments: to_u64(rows::int(row, "segments")?),
        created_at: rows::int(row, "created_at")?,
    })
}

pub(super) fn recipient_parts(r: &GrantRecipient) -> (&'static str, String) {
    match r {
        GrantRecipient::Device(d) => ("device", d.to_string()),
        GrantRecipient::User(u) => ("user", u.to_string()),
    }
}

/// The columns of a vault row (`v`), as a literal for `concat!`.
macro_rules! vault_columns {
    () => {
        "v.id, v.workspace_id, v.owner_id, v.epoch, v.counter, v.manifest, \
         v.manifest_signer, v.created_at, v.updated_at, v.rotation_due"
    };
}

/// The columns of an item row, as a literal for `concat!`.
macro_rules! item_columns {
    () => {
        "item_id, revision, epoch, counter, deleted, value_ptr, updated_at"
    };
}

/// Locks a live vault's row for a write and returns it. `NotFound` for a missing or deleted
/// vault.
pub(super) async fn lock_vault(
    conn: &mut AnyConnection,
    backend: Backend,
    id: VaultId,
) -> Result<Vault, StoreError> {
    let sql = match backend {
        Backend::Sqlite => concat!(
            "SELECT ",
            vault_columns!(),
            " FROM vaults v WHERE v.id = $1 AND v.deleted = 0"
        ),
        Backend::Postgres => concat!(
            "SELECT ",
            vault_columns!(),
            " FROM vaults v WHERE v.id = $1 AND v.deleted = 0 FOR UPDATE"
        ),
    };
    let row = sqlx::query(sql)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    vault_from_row(&row)
}

/// Locks a live vault (see [`lock_vault`]) whose counter must still be `base_counter`:
/// `Conflict("vault changed since your last sync")` otherwise.
pub(super) async fn lock_at_counter(
    conn: &mut AnyConnection,
    backend: Backend,
    id: VaultId,
    base_counter: u64,
) -> Result<Vault, StoreError> {
    let vault = lock_vault(conn, backend, id).await?;
    if vault.counter != base_counter {
        return Err(StoreError::Conflict(
            "vault changed since your last sync".into(),
        ));
    }
    Ok(vault)
}

/// Sets an item's current row to `(revision, epoch, counter)` with `value` (a tombstone when
/// none) and records that revision.
pub(super) async fn put_item_revision(
    conn: &mut AnyConnection,
    vault: VaultId,
    item: ItemId,
    (revision, epoch, counter): (i64, u32, i64),
    value: Option<ValuePointer>,
    t: i64,
) -> Result<(), StoreError> {
    put_item_revisions(conn, vault, (epoch, counter), &[(item, revision, value)], t).await
}

/// Most rows one statement of [`put_item_revisions`] writes (8 parameters each).
const ITEM_ROWS_PER_STATEMENT: usize = 100;

/// [`put_item_revision`] for many items of one vault at one `(epoch, counter)`: a multi-row
/// upsert of the current rows and a multi-row insert of the revisions per
/// [`ITEM_ROWS_PER_STATEMENT`], in the caller's transaction. `items` must not name an item
/// twice (one statement cannot update a row twice).
pub(super) async fn put_item_revisions(
    conn: &mut AnyConnection,
    vault: VaultId,
    (epoch, counter): (u32, i64),
    items: &[(ItemId, i64, Option<ValuePointer>)],
    t: i64,
) -> Result<(), StoreError> {
    let vault = vault.to_string();
    for chunk in items.chunks(ITEM_ROWS_PER_STATEMENT) {
        let marks = |n: usize| -> String {
            (0..chunk.len())
                .map(|r| {
                    let cols: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
                    format!("({})", cols.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        // only numbered placeholders are interpolated; every value is a bind parameter
        let current = format!(
            "INSERT INTO items (vault_id, item_id, revision, epoch, counter, deleted, value_ptr, \
             updated_at) VALUES {} \
             ON CONFLICT (vault_id, item_id) DO UPDATE SET revision = excluded.revision, \
             epoch = excluded.epoch, counter = excluded.counter, deleted = excluded.deleted, \
             value_ptr = excluded.value_ptr, updated_at = excluded.updated_at",
            marks(8)
        );
        let history = format!(
            "INSERT INTO item_revisions (vault_id, item_id, revision, epoch, counter, value_ptr, \
             created_at) VALUES {}",
            marks(7)
        );
        // The same columns in the same order, but `deleted` only in the current rows.
        for (sql, with_deleted) in [(current, true), (history, false)] {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (item, revision, value) in chunk {
                q = q
                    .bind(vault.clone())
                    .bind(item.to_string())
                    .bind(*revision)
                    .bind(i64::from(epoch))
                    .bind(counter);
                if with_deleted {
                    q = q.bind(rows::flag_value(value.is_none()));
                }
                q = q.bind(value.map(|p| p.as_bytes().to_vec())).bind(t);
            }
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Stores a grant, replacing an earlier one to the same recipient and epoch.
pub(super) async fn insert_grant(
    conn: &mut AnyConnection,
    vault: VaultId,
    g: &NewGrant,
    t: i64,
) -> Result<(), StoreError> {
    let (kind, id) = recipient_parts(&g.recipient);
    sqlx::query(
        "INSERT INTO vault_grants (vault_id, epoch, recipient_kind, recipient_id, grant_bytes, \
         signer_key, signer_device, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (vault_id, epoch, recipient_kind, recipient_id) DO UPDATE SET \
         grant_bytes = excluded.grant_bytes, signer_key = excluded.signer_key, \
         signer_device = excluded.signer_device, created_at = excluded.created_at, \
         acked_at = NULL",
    )
    .bind(vault.to_string())
    .bind(i64::from(g.epoch))
    .bind(kind)
    .bind(id)
    .bind(g.grant.clone())
    .bind(g.signer_key.to_vec())
    .bind(g.signer_device.map(|d| d.to_string()))
    .bind(t)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn items_page_on(
    conn: &mut AnyConnection,
    vault: VaultId,
    selection: ItemSelection,
    after: Option<(u64, ItemId)>,
    limit: u32,
) -> Result<Vec<ItemRow>, StoreError> {
    let limit = i64::from(limit.clamp(1, ITEM_PAGE_MAX));
    let (max_deleted, floor) = match selection {
        ItemSelection::Live => (0_i64, -1_i64),
        ItemSelection::ChangedAfter(c) => (1, to_i64("counter", c)?),
    };
    let found = match after {
        None => {
            sqlx::query(concat!(
                "SELECT ",
                item_columns!(),
                " FROM items WHERE vault_id = $1 AND deleted <= $2 \
                 AND counter > $3 ORDER BY counter, item_id LIMIT $4"
            ))
            .bind(vault.to_string())
            .bind(max_deleted)
            .bind(floor)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
        Some((c, item)) => {
            sqlx::query(concat!(
                "SELECT ",
                item_columns!(),
                " FROM items WHERE vault_id = $1 AND deleted <= $2 \
                 AND counter > $3 AND (counter > $4 OR (counter = $4 AND item_id > $5)) \
                 ORDER BY counter, item_id LIMIT $6"
            ))
            .bind(vault.to_string())
            .bind(max_deleted)
            .bind(floor)
            .bind(to_i64("counter", c)?)
            .bind(item.to_string())
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    found.iter().map(item_from_row).collect()
}

async fn grants_for_on(
    conn: &mut AnyConnection,
    vault: VaultId,
    device: DeviceId,
    user: UserId,
) -> Result<Vec<StoredGrant>, StoreError> {
    let found = sqlx::query(
        "SELECT * FROM vault_grants WHERE vault_id = $1 AND \
         length(grant_bytes) > 0 AND \
         ((recipient_kind = 'device' AND recipient_id = $2) OR \
          (recipient_kind = 'user' AND recipient_id = $3)) \
         ORDER BY epoch, recipient_kind, recipient_id",
    )
    .bind(vault.to_string())
    .bind(device.to_string())
    .bind(user.to_string())
    .fetch_all(&mut *conn)
    .await?;
    found.iter().map(grant_from_row).collect()
}

async fn vaults_of_user_on(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Vec<VaultMembership>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        vault_columns!(),
        ", m.role FROM vault_members m JOIN vaults v ON v.id = m.vault_id \
         WHERE m.user_id = $1 AND v.deleted = 0 ORDER BY v.created_at, v.id"
    ))
    .bind(user.to_string())
    .fetch_all(&mut *conn)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok(VaultMembership {
                vault: vault_from_row(row)?,
                role: rows::parsed(row, "role")?,
            })
        })
        .collect()
}

/// A consistent read of the vault tables across several queries (a sync stream reads a vault's
/// header, grants and item pages from one snapshot, so a concurrent write cannot make them
/// disagree). Drop it, or call [`VaultSnapshot::finish`], when done.
pub struct VaultSnapshot {
    tx: Transaction<'static, Any>,
}

impl fmt::Debug for VaultSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultSnapshot")
    }
}

impl VaultSnapshot {
    /// The user's live vaults and role in each, oldest first.
    pub async fn vaults_of_user(
        &mut self,
        user: UserId,
    ) -> Result<Vec<VaultMembership>, StoreError> {
        vaults_of_user_on(&mut self.tx, user).await
    }

    /// The grants of `vault` addressed to `device` or to `user`, every epoch.
    pub async fn grants_for(
        &mut self,
        vault: VaultId,
        device: DeviceId,
        user: UserId,
    ) -> Result<Vec<StoredGrant>, StoreError> {
        grants_for_on(&mut self.tx, vault, device, user).await
    }

    /// A user's device chain (every link in seq order), read in the snapshot.
    pub async fn device_chain(&mut self, user: UserId) -> Result<Vec<Vec<u8>>, StoreError> {
        super::chain::links_on(&mut self.tx, user).await
    }

    /// A device, read in the snapshot (a stream must not take a second pooled connection while
    /// it holds this one: with every connection held by a stream, all would wait forever).
    pub async fn device(&mut self, id: DeviceId) -> Result<super::devices::Device, StoreError> {
        super::devices::device_on(&mut self.tx, id).await
    }

    /// One page of items, ordered by (last-write counter, item id), after `after` (exclusive).
    pub async fn items_page(
        &mut self,
        vault: VaultId,
        selection: ItemSelection,
        after: Option<(u64, ItemId)>,
        limit: u32,
    ) -> Result<Vec<ItemRow>, StoreError> {
        items_page_on(&mut self.tx, vault, selection, after, limit).await
    }

    /// The role statements stored with the memberships of `vault` (members without one are
    /// left out), by user id.
    pub async fn role_statements(
        &mut self,
        vault: VaultId,
    ) -> Result<Vec<(UserId, Vec<u8>)>, StoreError> {
        let found = sqlx::query(
            "SELECT user_id, role_statement FROM vault_members \
             WHERE vault_id = $1 AND role_statement IS NOT NULL ORDER BY user_id",
        )
        .bind(vault.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok((
                    rows::parsed(row, "user_id")?,
                    rows::bytes(row, "role_statement")?,
                ))
            })
            .collect()
    }

    /// The members of `workspace` with their identity keys and attestations.
    pub async fn workspace_members(
        &mut self,
        workspace: WorkspaceId,
    ) -> Result<Vec<super::Member>, StoreError> {
        super::workspaces::list_members_on(&mut self.tx, workspace).await
    }

    /// Ends the read.
    pub async fn finish(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl MainStore {
    /// Creates a vault with its creator as manager, its first grants, and its record (item
    /// nil, revision 1, counter 0), in one transaction. `Conflict` if the id was ever used.
    pub async fn create_vault(
        &self,
        new: &NewVault,
        audit: Option<&AuditEvent>,
    ) -> Result<Vault, StoreError> {
        let t = now();
        let record_item = coffer_proto::vault::VAULT_RECORD_ITEM;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO vaults (id, workspace_id, owner_id, epoch, counter, manifest, \
             manifest_signer, created_at, updated_at, deleted) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $7, 0)",
        )
        .bind(new.id.to_string())
        .bind(new.workspace_id.map(|w| w.to_string()))
        .bind(new.owner.to_string())
        .bind(i64::from(new.epoch))
        .bind(new.manifest.clone())
        .bind(new.manifest_signer.map(|d| d.to_string()))
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO vault_members (vault_id, user_id, role, added_at, role_statement) \
             VALUES ($1, $2, 'manager', $3, $4)",
        )
        .bind(new.id.to_string())
        .bind(new.owner.to_string())
        .bind(t)
        .bind(new.role_statement.clone())
        .execute(&mut *tx)
        .await?;
        for g in &new.grants {
            insert_grant(&mut tx, new.id, g, t).await?;
        }
        sqlx::query(
            "INSERT INTO items (vault_id, item_id, revision, epoch, counter, deleted, value_ptr, \
             updated_at) VALUES ($1, $2, 1, $3, 0, 0, $4, $5)",
        )
        .bind(new.id.to_string())
        .bind(record_item.to_string())
        .bind(i64::from(new.record_epoch))
        .bind(new.record.as_bytes().to_vec())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO item_revisions (vault_id, item_id, revision, epoch, counter, value_ptr, \
             created_at) VALUES ($1, $2, 1, $3, 0, $4, $5)",
        )
        .bind(new.id.to_string())
        .bind(record_item.to_string())
        .bind(i64::from(new.record_epoch))
        .bind(new.record.as_bytes().to_vec())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(Vault {
            id: new.id,
            workspace_id: new.workspace_id,
            owner: new.owner,
            epoch: new.epoch,
            counter: 0,
            manifest: new.manifest.clone(),
            manifest_signer: new.manifest_signer,
            created_at: t,
            updated_at: t,
            rotation_due: false,
        })
    }

    /// A live vault. `NotFound` if missing or deleted.
    pub async fn vault(&self, id: VaultId) -> Result<Vault, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            vault_columns!(),
            " FROM vaults v WHERE v.id = $1 AND v.deleted = 0"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        vault_from_row(&row)
    }

    /// The user's role in a live vault. `NotFound` if the vault is missing, deleted, or the
    /// user is not a member.
    pub async fn vault_role(&self, vault: VaultId, user: UserId) -> Result<VaultRole, StoreError> {
        let row = sqlx::query(
            "SELECT m.role FROM vault_members m JOIN vaults v ON v.id = m.vault_id \
             WHERE m.vault_id = $1 AND m.user_id = $2 AND v.deleted = 0",
        )
        .bind(vault.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        rows::parsed(&row, "role")
    }

    /// Adds `user` to a live vault with `role`, or changes their role (a stored role statement
    /// stays as it was). `NotFound` for a missing or deleted vault or an unknown user.
    pub async fn set_vault_member(
        &self,
        vault: VaultId,
        user: UserId,
        role: VaultRole,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        lock_vault(&mut tx, self.db.backend, vault).await?;
        sqlx::query(
            "INSERT INTO vault_members (vault_id, user_id, role, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (vault_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(vault.to_string())
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await
    }

    /// The user's live vaults and role in each, oldest first.
    pub async fn vaults_of_user(&self, user: UserId) -> Result<Vec<VaultMembership>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        vaults_of_user_on(&mut conn, user).await
    }

    /// The grants of `vault` addressed to `device` or to `user`, every epoch.
    pub async fn vault_grants_for(
        &self,
        vault: VaultId,
        device: DeviceId,
        user: UserId,
    ) -> Result<Vec<StoredGrant>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        grants_for_on(&mut conn, vault, device, user).await
    }

    /// One page of a vault's items (see [`VaultSnapshot::items_page`]).
    pub async fn vault_items_page(
        &self,
        vault: VaultId,
        selection: ItemSelection,
        after: Option<(u64, ItemId)>,
        limit: u32,
    ) -> Result<Vec<ItemRow>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        items_page_on(&mut conn, vault, selection, after, limit).await
    }

    /// Starts a consistent read of the vault tables (`REPEATABLE READ` on PostgreSQL; a read
    /// transaction, hence one WAL snapshot, on SQLite).
    pub async fn vault_snapshot(&self) -> Result<VaultSnapshot, StoreError> {
        let tx = match self.db.backend {
            Backend::Sqlite => self.db.pool.begin().await?,
            Backend::Postgres => {
                self.db
                    .pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        Ok(VaultSnapshot { tx })
    }

    /// Deletes a vault: marks its row deleted and removes its members, grants, items,
    /// revisions, attachments and recovery keys, in one transaction. Returns what to delete from the value
    /// store afterwards. `NotFound` if missing or already deleted.
    pub async fn delete_vault(
        &self,
        id: VaultId,
        audit: Option<&AuditEvent>,
    ) -> Result<VaultRemains, StoreError> {
        let mut tx = self.db.begin_write().await?;
        lock_vault(&mut tx, self.db.backend, id).await?;
        let v = id.to_string();
        let mut remains = VaultRemains::default();
        let found = sqlx::query(
            "SELECT value_ptr FROM item_revisions WHERE vault_id = $1 AND value_ptr IS NOT NULL \
             UNION SELECT value_ptr FROM items WHERE vault_id = $1 AND value_ptr IS NOT NULL",
        )
        .bind(v.clone())
        .fetch_all(&mut *tx)
        .await?;
        for row in &found {
            if let Some(p) = opt_pointer(row, "value_ptr")? {
                remains.values.push(p);
            }
        }
        let blobs = sqlx::query("SELECT blob_id FROM attachments WHERE vault_id = $1")
            .bind(v.clone())
            .fetch_all(&mut *tx)
            .await?;
        for row in &blobs {
            remains.blobs.push(rows::array(row, "blob_id")?);
        }
        remains
            .values
            .extend(super::recovery::delete_vault_recovery(&mut tx, id).await?);
        for sql in [
            "DELETE FROM attachments WHERE vault_id = $1",
            "DELETE FROM item_revisions WHERE vault_id = $1",
            "DELETE FROM items WHERE vault_id = $1",
            "DELETE FROM vault_grants WHERE vault_id = $1",
            "DELETE FROM vault_members WHERE vault_id = $1",
            "DELETE FROM access_requests WHERE vault_id = $1",
            "DELETE FROM team_vaults WHERE vault_id = $1",
        ] {
            sqlx::query(sql).bind(v.clone()).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE vaults SET deleted = 1, updated_at = $2 WHERE id = $1")
            .bind(v)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        self.finish(tx, audit).await?;
        Ok(remains)
    }

    /// Applies one item write in one transaction, only if the vault's counter is still
    /// `base_counter` (else `Conflict("vault changed since your last sync")`) and the item's
    /// revision is still `base_revision` (else `Conflict("item changed since your last sync
    /// (revision N)")`). Moves the vault to the new manifest (counter + 1), sets the item's
    /// row (a tombstone when `value` is none), adds the revision, and prunes revisions beyond
    /// `keep_revisions`, returning their values. `Invalid` for a revision or deletion that
    /// makes no sense; `NotFound` for a missing or deleted vault.
    pub async fn write_item(
        &self,
        w: &ItemWrite,
        audit: Option<&AuditEvent>,
    ) -> Result<ItemWritten, StoreError> {
        if Some(w.revision) != w.base_revision.checked_add(1) {
            return Err(StoreError::Invalid(
                "revision must be base_revision + 1".into(),
            ));
        }
        let new_counter = w
            .base_counter
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("counter overflow".into()))?;
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let vault = lock_at_counter(&mut tx, self.db.backend, w.vault, w.base_counter).await?;
        if w.epoch > vault.epoch || w.epoch == 0 {
            return Err(StoreError::Invalid(format!(
                "item epoch {} is not a key epoch of this vault (current {})",
                w.epoch, vault.epoch
            )));
        }
        let current = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM items WHERE vault_id = $1 AND item_id = $2"
        ))
        .bind(w.vault.to_string())
        .bind(w.item.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| item_from_row(&row))
        .transpose()?;
        let current_revision = current.map_or(0, |c| c.revision);
        if current_revision != w.base_revision {
            return Err(StoreError::Conflict(format!(
                "item changed since your last sync (revision {current_revision})"
            )));
        }
        if w.value.is_none() {
            match current {
                None => {
                    return Err(StoreError::Invalid(
                        "cannot delete an item that does not exist".into(),
                    ));
                }
                Some(c) if c.deleted => {
                    return Err(StoreError::Invalid("the item is already deleted".into()));
                }
                Some(_) => {}
            }
        }
        let counter_i = to_i64("counter", new_counter)?;
        let revision_i = to_i64("revision", w.revision)?;
        sqlx::query(
            "UPDATE vaults SET counter = $2, manifest = $3, manifest_signer = $4, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(w.vault.to_string())
        .bind(counter_i)
        .bind(w.manifest.clone())
        .bind(w.manifest_signer.map(|d| d.to_string()))
        .bind(t)
        .execute(&mut *tx)
        .await?;
        put_item_revision(
            &mut tx,
            w.vault,
            w.item,
            (revision_i, w.epoch, counter_i),
            w.value,
            t,
        )
        .await?;
        let mut pruned = Vec::new();
        let keep = u64::from(w.keep_revisions.max(1));
        if let Some(cut) = w.revision.checked_sub(keep).filter(|c| *c > 0) {
            let cut = to_i64("revision", cut)?;
            let old = sqlx::query(
                "SELECT value_ptr FROM item_revisions WHERE vault_id = $1 AND item_id = $2 \
                 AND revision <= $3 AND value_ptr IS NOT NULL",
            )
            .bind(w.vault.to_string())
            .bind(w.item.to_string())
            .bind(cut)
            .fetch_all(&mut *tx)
            .await?;
            for row in &old {
                if let Some(p) = opt_pointer(row, "value_ptr")? {
                    pruned.push(p);
                }
            }
            sqlx::query(
                "DELETE FROM item_revisions WHERE vault_id = $1 AND item_id = $2 \
                 AND revision <= $3",
            )
            .bind(w.vault.to_string())
            .bind(w.item.to_string())
            .bind(cut)
            .execute(&mut *tx)
            .await?;
        }
        self.finish(tx, audit).await?;
        Ok(ItemWritten {
            counter: new_counter,
            revision: w.revision,
            pruned,
        })
    }

    /// An item's current row (tombstones included). `NotFound` if it never existed.
    pub async fn item(&self, vault: VaultId, item: ItemId) -> Result<ItemRow, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM items WHERE vault_id = $1 AND item_id = $2"
        ))
        .bind(vault.to_string())
        .bind(item.to_string())
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        item_from_row(&row)
    }

    /// Acknowledges the grants to `device` of these (vault, epoch) pairs: the device holds
    /// those keys now (protocol.md §18.3a). Returns how many were newly acknowledged.
    pub async fn ack_device_grants(
        &self,
        device: DeviceId,
        grants: &[(VaultId, u32)],
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let t = now();
        let mut n = 0;
        for (vault, epoch) in grants {
            let done = sqlx::query(
                "UPDATE vault_grants SET acked_at = $4 WHERE vault_id = $1 AND epoch = $2 AND \
                 recipient_kind = 'device' AND recipient_id = $3 AND acked_at IS NULL",
            )
            .bind(vault.to_string())
            .bind(i64::from(*epoch))
            .bind(device.to_string())
            .bind(t)
            .execute(&mut *tx)
            .await?;
            n += done.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Empties device grants acknowledged before `acked_before` (the retention window ended):
    /// the bytes go, the row stays so the device is not listed for replication again. Grants
    /// to identities are kept. Returns how many were emptied.
    pub async fn purge_acked_device_grants(&self, acked_before: i64) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE vault_grants SET grant_bytes = $1 WHERE recipient_kind = 'device' AND \
             acked_at IS NOT NULL AND acked_at < $2 AND length(grant_bytes) > 0",
        )
        .bind(Vec::<u8>::new())
        .bind(acked_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// The kept revisions of an item, newest first (empty if it never existed).
    pub async fn item_revisions(
        &self,
        vault: VaultId,
        item: ItemId,
    ) -> Result<Vec<RevisionRow>, StoreError> {
        let found = sqlx::query(
            "SELECT revision, epoch, counter, value_ptr, created_at FROM item_revisions \
             WHERE vault_id = $1 AND item_id = $2 ORDER BY revision DESC",
        )
        .bind(vault.to_string())
        .bind(item.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found.iter().map(revision_from_row).collect()
    }

    /// Registers an attachment whose segments are already in the value store, replacing one
    /// with the same id. Returns the blob id it replaced (delete its segments afterwards).
    /// `NotFound` for a missing or deleted vault.
    pub async fn put_attachment(
        &self,
        a: &Attachment,
        audit: Option<&AuditEvent>,
    ) -> Result<Option<[u8; 32]>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        lock_vault(&mut tx, self.db.backend, a.vault).await?;
        let old = sqlx::query(
            "SELECT blob_id FROM attachments WHERE vault_id = $1 AND item_id = $2 \
             AND attachment_id = $3",
        )
        .bind(a.vault.to_string())
        .bind(a.item.to_string())
        .bind(a.attachment.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| rows::array::<32>(&row, "blob_id"))
        .transpose()?;
        sqlx::query(
            "INSERT INTO attachments (vault_id, item_id, attachment_id, blob_id, size, segments, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (vault_id, item_id, attachment_id) DO UPDATE SET \
             blob_id = excluded.blob_id, size = excluded.size, segments = excluded.segments, \
             created_at = excluded.created_at",
        )
        .bind(a.vault.to_string())
        .bind(a.item.to_string())
        .bind(a.attachment.to_string())
        .bind(a.blob_id.to_vec())
        .bind(to_i64("size", a.size)?)
        .bind(to_i64("segments", a.segments)?)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(old)
    }

    /// A registered attachment of a live vault.
    pub async fn attachment(
        &self,
        vault: VaultId,
        item: ItemId,
        attachment: uuid::Uuid,
    ) -> Result<Attachment, StoreError> {
        let row = sqlx::query(
            "SELECT a.* FROM attachments a JOIN vaults v ON v.id = a.vault_id \
             WHERE a.vault_id = $1 AND a.item_id = $2 AND a.attachment_id = $3 \
             AND v.deleted = 0",
        )
        .bind(vault.to_string())
        .bind(item.to_string())
        .bind(attachment.to_string())
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        attachment_from_row(&row)
    }

    /// Unregisters an attachment and returns its blob id (delete its segments afterwards).
    pub async fn delete_attachment(
        &self,
        vault: VaultId,
        item: ItemId,
        attachment: uuid::Uuid,
        audit: Option<&AuditEvent>,
    ) -> Result<[u8; 32], StoreError> {
        let mut tx = self.db.begin_write().await?;
        lock_vault(&mut tx, self.db.backend, vault).await?;
        let row = sqlx::query(
            "SELECT blob_id FROM attachments WHERE vault_id = $1 AND item_id = $2 \
             AND attachment_id = $3",
        )
        .bind(vault.to_string())
        .bind(item.to_string())
        .bind(attachment.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let blob = rows::array::<32>(&row, "blob_id")?;
        sqlx::query(
            "DELETE FROM attachments WHERE vault_id = $1 AND item_id = $2 AND attachment_id = $3",
        )
        .bind(vault.to_string())
        .bind(item.to_string())
        .bind(attachment.to_string())
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(blob)
    }
}
