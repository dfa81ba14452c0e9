//! Coffer storage (DESIGN §6, §7): the **main store** ([`MainStore`]: users, devices,
//! sessions, workspaces, members, invites, server secrets, data keys, local vaults and the
//! hash-chained audit log) and the **value store** ([`ValueStore`]: encrypted values under
//! random pointers, and attachment blobs as encrypted segments). Each is its own database,
//! opened from its own URL, with its own migrations:
//!
//! ```text
//! sqlite://PATH            embedded default (file created if missing, WAL, synchronous=FULL)
//! postgres://USER:PW@HOST:PORT/DB   at scale
//! ```
//!
//! # One implementation, two engines
//!
//! Both stores are written once against `sqlx::Any`: every query is a single SQL text that
//! runs unchanged on SQLite and PostgreSQL (ids as TEXT, bytes as BLOB/BYTEA, times as
//! BIGINT unix seconds, flags as 0/1 integers, `$n` placeholders), so the one conformance
//! suite exercises the very code that serves each engine, and a fix lands on both at once.
//! The few real differences — connection settings, `BEGIN IMMEDIATE` versus `FOR UPDATE`,
//! and the DDL — live in [`db`](crate::DatabaseUrl)'s module and in the per-engine
//! migration folders `migrations/{main,value}/{sqlite,postgres}/`. A trait with one
//! implementation per engine would have doubled every query for no behaviour the server
//! needs; the server uses the concrete handles, which are cheap to clone.
//!
//! # Guarantees
//!
//! - Every mutating [`MainStore`] method takes `audit: Option<&AuditEvent>` and appends it
//!   in the same transaction as its change; multi-row changes are one transaction.
//! - The audit chain is gapless and never forks under concurrent writers; see [`audit`] for
//!   the hash encoding and [`MainStore::verify_audit_chain`].
//! - A write is acknowledged only after its commit is durable (SQLite `synchronous=FULL`,
//!   PostgreSQL's default `synchronous_commit=on`), so SIGKILL loses no acknowledged write.
//! - Errors are [`StoreError`]; none carries stored values or the database password, and
//!   `Debug` of every type holding secret bytes shows only their length.

pub mod audit;
mod binary_ids;
mod db;
mod error;
mod main_store;
mod rows;
#[cfg(feature = "testing")]
pub mod testing;
mod value_store;

pub use audit::{AuditBreak, AuditEntry, AuditEvent, AuditVerdict};
pub use binary_ids::{DataKeyId, ValuePointer};
pub use db::{Backend, DatabaseUrl, StoreOptions};
pub use error::StoreError;
pub use main_store::{
    AccessRequest, Attachment, Credentials, DataKey, DataKeyState, Device, DeviceEndorsementRow,
    ITEM_PAGE_MAX, Invite, ItemRow, ItemSelection, ItemWrite, ItemWritten, MainStore, Member,
    Membership, MfaSettings, NewDevice, NewGrant, NewInvite, NewPasswordReset, NewRecoveryKey,
    NewSession, NewTeam, NewUser, NewVault, NewWorkspace, PasswordReset, RecoveryGrantRow,
    RecoveryKey, Replication, ResetOutcome, RevisionRow, RotatedItem, ServerSecret, Session,
    SessionRevocation, SharedItemRow, StoredGrant, Team, TeamMember, TeamShare, TeamSummary,
    TeamVault, User, Vault, VaultMember, VaultMembership, VaultRemains, VaultRotation,
    VaultSnapshot, Workspace,
};
pub use value_store::{
    BlobSegment, GET_MANY_MAX, POINTER_PAGE_MAX, PUT_MANY_ROWS, StoredValue, ValueStore,
};
