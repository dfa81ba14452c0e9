//! The main store (DESIGN §6): users, devices, sessions, workspaces, members, invites, server
//! secrets, data keys, local vaults (items, revisions, grants, attachments), recovery keys and
//! the audit log, in one database.
//!
//! Every method that changes something takes `audit: Option<&AuditEvent>` and, when it is
//! `Some`, appends that event in the same transaction as the change: both happen, or neither.
//! Every multi-row change is one transaction. Ids are chosen by the caller (so an audit event
//! can name what is being created); times the store records itself are unix seconds from the
//! system clock.

mod chain;
mod devices;
mod item_shares;
mod recovery;
mod resets;
mod secrets;
mod sessions;
mod sharing;
mod teams;
mod users;
mod vaults;
mod workspaces;

use sqlx::migrate::Migrator;
use sqlx::{Any, Transaction};

pub use chain::DeviceEndorsementRow;
pub use devices::{Device, NewDevice};
pub use item_shares::SharedItemRow;
pub use recovery::{NewRecoveryKey, RecoveryGrantRow, RecoveryKey};
pub use resets::{NewPasswordReset, PasswordReset, ResetOutcome};
pub use secrets::{DataKey, DataKeyState, ServerSecret};
pub use sessions::{NewSession, Session, SessionRevocation};
pub use sharing::{Replication, RotatedItem, VaultMember, VaultRotation};
pub use teams::{AccessRequest, NewTeam, Team, TeamMember, TeamShare, TeamSummary, TeamVault};
pub use users::{Credentials, MfaSettings, NewUser, User};
pub use vaults::{
    Attachment, ITEM_PAGE_MAX, ItemRow, ItemSelection, ItemWrite, ItemWritten, NewGrant, NewVault,
    RevisionRow, StoredGrant, Vault, VaultMembership, VaultRemains, VaultSnapshot,
};
pub use workspaces::{Invite, Member, Membership, NewInvite, NewWorkspace, Workspace};

use crate::audit::{self, AuditEvent};
use crate::db::{Backend, Db, Migrations, StoreOptions};
use crate::{DatabaseUrl, StoreError};

static SQLITE: Migrator = sqlx::migrate!("./migrations/main/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/main/postgres");

pub(crate) const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
    table: "_coffer_main_migrations",
};

/// A handle on the main store: a connection pool. Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct MainStore {
    pub(crate) db: Db,
}

impl MainStore {
    /// Opens the main store at `url` (`sqlite://PATH` or `postgres://…`), creating the SQLite
    /// file if missing, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    /// [`MainStore::open`] with explicit pool settings.
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

    /// Appends `audit` (if any) and commits.
    async fn finish(
        &self,
        mut tx: Transaction<'static, Any>,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        if let Some(event) = audit {
            audit::append(&mut tx, &self.db, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Lowercases an email address for uniqueness and lookup, after checking it is usable.
pub(crate) fn email_key(email: &str) -> Result<String, StoreError> {
    crate::db::check_text("email", email, false)?;
    if email.trim() != email {
        return Err(StoreError::Invalid(
            "email must not have surrounding spaces".into(),
        ));
    }
    Ok(email.to_lowercase())
}
