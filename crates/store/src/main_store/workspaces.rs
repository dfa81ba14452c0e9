//! Workspaces, their members (one role each) and invitations.
//!
//! Invariant kept here: a workspace always has at least one owner. It is created with one,
//! and changing a role, removing a member or deleting a user that would leave it without an
//! owner fails with `Conflict`. The check runs under a lock on the workspace row, so two
//! owners leaving at once cannot both succeed.

use std::fmt;

use coffer_proto::{InviteId, InviteState, Role, UserId, WorkspaceId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::users::one_row;
use super::{MainStore, email_key};
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::db::{Db, check_text, now};
use crate::rows::{self, RedactedOpt};

/// A workspace to create.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    /// Chosen by the caller.
    pub id: WorkspaceId,
    /// Unique name. Not empty.
    pub name: String,
    /// Whether members must use a second factor.
    pub mfa_required: bool,
}

/// A stored workspace.
#[derive(Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Its id.
    pub id: WorkspaceId,
    /// Its unique name.
    pub name: String,
    /// Whether members must use a second factor.
    pub mfa_required: bool,
    /// The signed form of the workspace policy, once there is one.
    pub signed_policy: Option<Vec<u8>>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last rename or policy change (unix seconds).
    pub updated_at: i64,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("mfa_required", &self.mfa_required)
            .field("signed_policy", &RedactedOpt(self.signed_policy.as_deref()))
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The user.
    pub user_id: UserId,
    /// The user's email (from the user row).
    pub email: String,
    /// The member's role.
    pub role: Role,
    /// When they joined (unix seconds).
    pub joined_at: i64,
    /// An admin's attestation of their identity key (`coffer_crypto::attest`), once confirmed.
    pub attestation: Option<Vec<u8>>,
    /// Their identity public keys (from the user row), as registered.
    pub identity_public_keys: Vec<u8>,
}

/// One workspace of a user, with their role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The workspace.
    pub workspace: Workspace,
    /// The user's role in it.
    pub role: Role,
    /// When they joined (unix seconds).
    pub joined_at: i64,
}

/// An invitation to create.
#[derive(Debug, Clone)]
pub struct NewInvite {
    /// Chosen by the caller.
    pub id: InviteId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Who is invited (compared case-insensitively).
    pub email: String,
    /// The role they get on accepting.
    pub role: Role,
    /// Who invited them, if a user did.
    pub invited_by: Option<UserId>,
}

/// A stored invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Its id.
    pub id: InviteId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Who is invited.
    pub email: String,
    /// The role they get on accepting.
    pub role: Role,
    /// Who invited them (cleared if that user is deleted).
    pub invited_by: Option<UserId>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Pending, accepted or revoked.
    pub state: InviteState,
    /// The user who accepted it.
    pub accepted_by: Option<UserId>,
    /// When it was accepted or revoked (unix seconds).
    pub answered_at: Option<i64>,
}

fn workspace_from_row(row: &AnyRow) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: rows::parsed(row, "id")?,
        name: rows::text(row, "name")?,
        mfa_required: rows::flag(row, "mfa_required")?,
        signed_policy: rows::opt_bytes(row, "signed_policy")?,
        created_at: rows::int(row, "created_at")?,
        updated_at: rows::int(row, "updated_at")?,
    })
}

fn member_from_row(row: &AnyRow) -> Result<Member, StoreError> {
    Ok(Member {
        workspace_id: rows::parsed(row, "workspace_id")?,
        user_id: rows::parsed(row, "user_id")?,
        email: rows::text(row, "email")?,
        role: rows::parsed(row, "role")?,
        joined_at: rows::int(row, "joined_at")?,
        attestation: rows::opt_bytes(row, "attestation")?,
        identity_public_keys: rows::bytes(row, "identity_public_keys")?,
    })
}

fn invite_from_row(row: &AnyRow) -> Result<Invite, StoreError> {
    Ok(Invite {
        id: rows::parsed(row, "id")?,
        workspace_id: rows::parsed(row, "workspace_id")?,
        email: rows::text(row, "email")?,
        role: rows::parsed(row, "role")?,
        invited_by: rows::opt_parsed(row, "invited_by")?,
        created_at: rows::int(row, "created_at")?,
        state: rows::parsed(row, "state")?,
        accepted_by: rows::opt_parsed(row, "accepted_by")?,
        answered_at: rows::opt_int(row, "answered_at")?,
    })
}

const MEMBER_SELECT: &str = "SELECT m.workspace_id, m.user_id, u.email, m.role, m.joined_at, \
     m.attestation, u.identity_public_keys \
     FROM members m JOIN users u ON u.id = m.user_id \
     WHERE m.workspace_id = $1 AND m.user_id = $2";

/// Locks the workspace row until the transaction ends (PostgreSQL; on SQLite the write
/// transaction already holds the database lock). `NotFound` if it does not exist.
pub(crate) async fn lock_workspace(
    conn: &mut AnyConnection,
    db: &Db,
    id: &str,
) -> Result<(), StoreError> {
    sqlx::query(db.pick(
        "SELECT id FROM workspaces WHERE id = $1",
        "SELECT id FROM workspaces WHERE id = $1 FOR UPDATE",
    ))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(())
}

/// Fails with `Conflict` if the workspace has no owner left.
async fn ensure_an_owner(conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM members WHERE workspace_id = $1 AND role = 'owner'",
    )
    .bind(id.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    if owners == 0 {
        return Err(StoreError::Conflict(
            "a workspace must keep at least one owner".into(),
        ));
    }
    Ok(())
}

async fn member_in(
    conn: &mut AnyConnection,
    ws: WorkspaceId,
    user: UserId,
) -> Result<Member, StoreError> {
    let row = sqlx::query(MEMBER_SELECT)
        .bind(ws.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    member_from_row(&row)
}

impl MainStore {
    /// Creates a workspace with `owner` as its first owner, in one transaction. `Conflict` if
    /// the id or name is taken; `NotFound` if the owner does not exist.
    pub async fn create_workspace(
        &self,
        new: &NewWorkspace,
        owner: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<Workspace, StoreError> {
        check_text("workspace name", &new.name, false)?;
        let t = now();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO workspaces (id, name, mfa_required, signed_policy, created_at, \
             updated_at) VALUES ($1, $2, $3, NULL, $4, $4)",
        )
        .bind(new.id.to_string())
        .bind(new.name.clone())
        .bind(rows::flag_value(new.mfa_required))
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO members (workspace_id, user_id, role, joined_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(new.id.to_string())
        .bind(owner.to_string())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(Workspace {
            id: new.id,
            name: new.name.clone(),
            mfa_required: new.mfa_required,
            signed_policy: None,
            created_at: t,
            updated_at: t,
        })
    }

    /// The workspace with this id.
    pub async fn workspace(&self, id: WorkspaceId) -> Result<Workspace, StoreError> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        workspace_from_row(&row)
    }

    /// The workspace with this exact name.
    pub async fn workspace_by_name(&self, name: &str) -> Result<Workspace, StoreError> {
        check_text("workspace name", name, false)?;
        let row = sqlx::query("SELECT * FROM workspaces WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        workspace_from_row(&row)
    }

    /// The workspaces the user is a member of, with their role, by name.
    pub async fn list_workspaces_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<Membership>, StoreError> {
        let found = sqlx::query(
            "SELECT w.id, w.name, w.mfa_required, w.signed_policy, w.created_at, w.updated_at, \
             m.role, m.joined_at FROM members m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.user_id = $1 ORDER BY w.name, w.id",
        )
        .bind(user.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(Membership {
                    workspace: workspace_from_row(row)?,
                    role: rows::parsed(row, "role")?,
                    joined_at: rows::int(row, "joined_at")?,
                })
            })
            .collect()
    }

    /// Renames a workspace. `Conflict` if the name is taken.
    pub async fn rename_workspace(
        &self,
        id: WorkspaceId,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        check_text("workspace name", name, false)?;
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("UPDATE workspaces SET name = $2, updated_at = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(name.to_owned())
            .bind(now())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Sets the workspace policy: the MFA requirement and its signed form.
    pub async fn set_workspace_policy(
        &self,
        id: WorkspaceId,
        mfa_required: bool,
        signed_policy: Option<&[u8]>,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE workspaces SET mfa_required = $2, signed_policy = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(rows::flag_value(mfa_required))
        .bind(signed_policy.map(<[u8]>::to_vec))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Deletes a workspace with its members and invites.
    pub async fn delete_workspace(
        &self,
        id: WorkspaceId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM workspaces WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Adds a member. `Conflict` if already a member; `NotFound` if the workspace or user
    /// does not exist.
    pub async fn add_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Role,
        audit: Option<&AuditEvent>,
    ) -> Result<Member, StoreError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO members (workspace_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(workspace.to_string())
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let member = member_in(&mut tx, workspace, user).await?;
        self.finish(tx, audit).await?;
        Ok(member)
    }

    /// The membership of `user` in `workspace`.
    pub async fn member(&self, workspace: WorkspaceId, user: UserId) -> Result<Member, StoreError> {
        let row = sqlx::query(MEMBER_SELECT)
            .bind(workspace.to_string())
            .bind(user.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        member_from_row(&row)
    }

    /// The workspace's members, in joining order.
    pub async fn list_members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        list_members_on(&mut conn, workspace).await
    }

    /// How many owners the workspace has.
    pub async fn count_owners(&self, workspace: WorkspaceId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM members WHERE workspace_id = $1 AND role = 'owner'",
        )
        .bind(workspace.to_string())
        .fetch_one(&self.db.pool)
        .await?;
        Ok(rows::count(n))
    }

    /// Changes a member's role. `Conflict` if that would leave the workspace without an owner.
    pub async fn set_member_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Role,
        audit: Option<&AuditEvent>,
    ) -> Result<Member, StoreError> {
        let ws = workspace.to_string();
        let mut tx = self.db.begin_write().await?;
        lock_workspace(&mut tx, &self.db, &ws).await?;
        let done =
            sqlx::query("UPDATE members SET role = $3 WHERE workspace_id = $1 AND user_id = $2")
                .bind(ws.clone())
                .bind(user.to_string())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        one_row(done.rows_affected())?;
        ensure_an_owner(&mut tx, &ws).await?;
        let member = member_in(&mut tx, workspace, user).await?;
        self.finish(tx, audit).await?;
        Ok(member)
    }

    /// Stores an admin's attestation of a member's identity key (replacing an older one).
    /// `NotFound` if they are not a member.
    pub async fn set_attestation(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        attestation: &[u8],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE members SET attestation = $3 WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(workspace.to_string())
        .bind(user.to_string())
        .bind(attestation.to_vec())
        .execute(&mut *tx)
        .await?;
        one_row(done.rows_affected())?;
        self.finish(tx, audit).await
    }

    /// Removes a member (leaving or being removed). `Conflict` if they are the last owner.
    pub async fn remove_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let ws = workspace.to_string();
        let mut tx = self.db.begin_write().await?;
        lock_workspace(&mut tx, &self.db, &ws).await?;
        let done = sqlx::query("DELETE FROM members WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws.clone())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        one_row(done.rows_affected())?;
        ensure_an_owner(&mut tx, &ws).await?;
        super::sharing::after_workspace_member_removed(&mut tx, &ws, user).await?;
        super::teams::after_workspace_member_removed(&mut tx, &ws, user).await?;
        self.finish(tx, audit).await
    }

    /// Creates a pending invitation. `Conflict` if the id is taken or the email already has
    /// a pending invitation to this workspace; `NotFound` if the workspace does not exist.
    pub async fn create_invite(
        &self,
        new: &NewInvite,
        audit: Option<&AuditEvent>,
    ) -> Result<Invite, StoreError> {
        let key = email_key(&new.email)?;
        let t = now();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO invites (id, workspace_id, email, email_key, role, invited_by, \
             created_at, state, accepted_by, answered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, NULL)",
        )
        .bind(new.id.to_string())
        .bind(new.workspace_id.to_string())
        .bind(new.email.clone())
        .bind(key)
        .bind(new.role.as_str())
        .bind(new.invited_by.map(|u| u.to_string()))
        .bind(t)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(Invite {
            id: new.id,
            workspace_id: new.workspace_id,
            email: new.email.clone(),
            role: new.role,
            invited_by: new.invited_by,
            created_at: t,
            state: InviteState::Pending,
            accepted_by: None,
            answered_at: None,
        })
    }

    /// The invitation with this id.
    pub async fn invite(&self, id: InviteId) -> Result<Invite, StoreError> {
        let row = sqlx::query("SELECT * FROM invites WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        invite_from_row(&row)
    }

    /// The workspace's invitations, oldest first; only those in `state` when given.
    pub async fn list_invites(
        &self,
        workspace: WorkspaceId,
        state: Option<InviteState>,
    ) -> Result<Vec<Invite>, StoreError> {
        let found = match state {
            None => {
                sqlx::query("SELECT * FROM invites WHERE workspace_id = $1 ORDER BY created_at, id")
                    .bind(workspace.to_string())
                    .fetch_all(&self.db.pool)
                    .await?
            }
            Some(state) => {
                sqlx::query(
                    "SELECT * FROM invites WHERE workspace_id = $1 AND state = $2 \
                     ORDER BY created_at, id",
                )
                .bind(workspace.to_string())
                .bind(state.as_str())
                .fetch_all(&self.db.pool)
                .await?
            }
        };
        found.iter().map(invite_from_row).collect()
    }

    /// The pending invitations addressed to `email` (case-insensitively), oldest first.
    pub async fn pending_invites_for_email(&self, email: &str) -> Result<Vec<Invite>, StoreError> {
        let key = email_key(email)?;
        let found = sqlx::query(
            "SELECT * FROM invites WHERE email_key = $1 AND state = 'pending' \
             ORDER BY created_at, id",
        )
        .bind(key)
        .fetch_all(&self.db.pool)
        .await?;
        found.iter().map(invite_from_row).collect()
    }

    /// Revokes a pending invitation. `Conflict` if it is not pending.
    pub async fn revoke_invite(
        &self,
        id: InviteId,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE invites SET state = 'revoked', answered_at = $2 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(not_pending(&mut tx, id).await);
        }
        self.finish(tx, audit).await
    }

    /// Accepts a pending invitation for `user`: marks it accepted and adds the member with
    /// the invited role, in one transaction. `Conflict` if it is not pending or the user is
    /// already a member (then nothing changes). Whether `user` may accept it (e.g. owns the
    /// invited email) is the caller's decision.
    pub async fn accept_invite(
        &self,
        id: InviteId,
        user: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<Member, StoreError> {
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let row = sqlx::query(
            "UPDATE invites SET state = 'accepted', accepted_by = $2, answered_at = $3 \
             WHERE id = $1 AND state = 'pending' RETURNING workspace_id, role",
        )
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(t)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(not_pending(&mut tx, id).await);
        };
        let workspace: WorkspaceId = rows::parsed(&row, "workspace_id")?;
        let role: Role = rows::parsed(&row, "role")?;
        sqlx::query(
            "INSERT INTO members (workspace_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(workspace.to_string())
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        let member = member_in(&mut tx, workspace, user).await?;
        self.finish(tx, audit).await?;
        Ok(member)
    }
}

/// The error for an invitation that could not change state: `NotFound` or `Conflict`.
async fn not_pending(conn: &mut AnyConnection, id: InviteId) -> StoreError {
    let exists = sqlx::query("SELECT id FROM invites WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await;
    match exists {
        Ok(None) => StoreError::NotFound,
        Ok(Some(_)) => StoreError::Conflict("invite is not pending".into()),
        Err(e) => e.into(),
    }
}

/// The workspace's members, in joining order, on one connection.
pub(super) async fn list_members_on(
    conn: &mut sqlx::AnyConnection,
    workspace: WorkspaceId,
) -> Result<Vec<Member>, StoreError> {
    let found = sqlx::query(
        "SELECT m.workspace_id, m.user_id, u.email, m.role, m.joined_at, m.attestation, \
         u.identity_public_keys \
         FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.workspace_id = $1 ORDER BY m.joined_at, u.email_key, m.user_id",
    )
    .bind(workspace.to_string())
    .fetch_all(&mut *conn)
    .await?;
    found.iter().map(member_from_row).collect()
}
