//! Teams of a workspace, their members, their links to vaults, and access requests
//! (docs/protocol.md §18.5).
//!
//! The server never holds a vault key, so "every member of team T should have role R in vault
//! V" cannot be carried out here: it becomes **access requests** that a vault manager's device
//! approves by issuing the grants ([`MainStore::approve_access_request`], which records the
//! membership and the decision in one transaction) or denies.
//!
//! Invariants kept here, each inside one transaction:
//! - adding a user to a team creates a pending request for every live vault linked to the team
//!   where the user is not already a member with at least the team's role;
//! - removing a user from a team removes the vault memberships they hold only through that team
//!   (not shared directly, `vault_members.direct = 0`, and not linked by another team of theirs)
//!   with their grants, flags those vaults for rotation, and drops the user's pending requests
//!   of that team;
//! - a team role never lowers a member's vault role.
//!
//! Locks are taken team first, then vault, everywhere, so two writers cannot deadlock.

use std::collections::BTreeSet;

use coffer_proto::vault::VaultRole;
use coffer_proto::{AccessRequestId, AccessRequestState, TeamId, UserId, VaultId, WorkspaceId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::sharing::{check_epochs, ensure_a_manager, remove_from_vault};
use super::vaults::{insert_grant, lock_vault};
use super::{MainStore, NewGrant};
use crate::StoreError;
use crate::audit::AuditEvent;
use crate::db::{Db, check_text, now};
use crate::rows;

/// A team to create.
#[derive(Debug, Clone)]
pub struct NewTeam {
    /// Chosen by the caller.
    pub id: TeamId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its name, unique in the workspace.
    pub name: String,
}

/// A stored team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Its id.
    pub id: TeamId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

/// A team with how many members and live vaults it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSummary {
    /// The team.
    pub team: Team,
    /// Its members.
    pub members: u64,
    /// Its live linked vaults.
    pub vaults: u64,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// When they were added (unix seconds).
    pub added_at: i64,
}

/// A live vault a team is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamVault {
    /// The vault.
    pub vault_id: VaultId,
    /// The role team members get in it.
    pub role: VaultRole,
    /// When it was linked (unix seconds).
    pub added_at: i64,
}

/// The grants for one team member when a team is linked to a vault.
#[derive(Debug, Clone)]
pub struct TeamShare {
    /// The team member.
    pub user: UserId,
    /// Grants of the vault's keys to them and their devices.
    pub grants: Vec<NewGrant>,
    /// Their role statement (protocol.md §18.6), stored with the membership.
    pub statement: Option<Vec<u8>>,
}

/// A stored access request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// Its id.
    pub id: AccessRequestId,
    /// The vault.
    pub vault_id: VaultId,
    /// The team's (and the vault's) workspace.
    pub workspace_id: WorkspaceId,
    /// Who would get access.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// The role asked for.
    pub role: VaultRole,
    /// The team that caused it.
    pub team_id: TeamId,
    /// The team's name.
    pub team_name: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Pending, approved or denied.
    pub state: AccessRequestState,
    /// The manager who decided.
    pub decided_by: Option<UserId>,
    /// When it was decided (unix seconds).
    pub decided_at: Option<i64>,
}

fn team_from_row(row: &AnyRow) -> Result<Team, StoreError> {
    Ok(Team {
        id: rows::parsed(row, "id")?,
        workspace_id: rows::parsed(row, "workspace_id")?,
        name: rows::text(row, "name")?,
        created_at: rows::int(row, "created_at")?,
    })
}

/// The columns and joins of an access request (`r`), as a literal for `concat!`.
macro_rules! request_select {
    () => {
        "SELECT r.id, r.vault_id, t.workspace_id, r.user_id, u.email, r.role, r.team_id, \
         t.name AS team_name, r.created_at, r.state, r.decided_by, r.decided_at \
         FROM access_requests r JOIN users u ON u.id = r.user_id JOIN teams t ON t.id = r.team_id"
    };
}

fn request_from_row(row: &AnyRow) -> Result<AccessRequest, StoreError> {
    Ok(AccessRequest {
        id: rows::parsed(row, "id")?,
        vault_id: rows::parsed(row, "vault_id")?,
        workspace_id: rows::parsed(row, "workspace_id")?,
        user_id: rows::parsed(row, "user_id")?,
        email: rows::text(row, "email")?,
        role: rows::parsed(row, "role")?,
        team_id: rows::parsed(row, "team_id")?,
        team_name: rows::text(row, "team_name")?,
        created_at: rows::int(row, "created_at")?,
        state: rows::parsed(row, "state")?,
        decided_by: rows::opt_parsed(row, "decided_by")?,
        decided_at: rows::opt_int(row, "decided_at")?,
    })
}

/// Locks a team's row until the transaction ends (PostgreSQL; SQLite's write transaction holds
/// the database lock) and returns it. `NotFound` if it does not exist.
async fn lock_team(conn: &mut AnyConnection, db: &Db, id: TeamId) -> Result<Team, StoreError> {
    let row = sqlx::query(db.pick(
        "SELECT id, workspace_id, name, created_at FROM teams WHERE id = $1",
        "SELECT id, workspace_id, name, created_at FROM teams WHERE id = $1 FOR UPDATE",
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    team_from_row(&row)
}

async fn request_on(
    conn: &mut AnyConnection,
    id: AccessRequestId,
) -> Result<AccessRequest, StoreError> {
    let row = sqlx::query(concat!(request_select!(), " WHERE r.id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    request_from_row(&row)
}

/// The user's role in the vault, if a member.
async fn vault_role_on(
    conn: &mut AnyConnection,
    vault: VaultId,
    user: UserId,
) -> Result<Option<VaultRole>, StoreError> {
    let row = sqlx::query("SELECT role FROM vault_members WHERE vault_id = $1 AND user_id = $2")
        .bind(vault.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| rows::parsed(&r, "role")).transpose()
}

/// Gives `user` at least `role` in `vault`: a new membership is marked as held through a team
/// (`direct = 0`); an existing one is raised, never lowered, and keeps its `direct` flag.
async fn grant_membership(
    conn: &mut AnyConnection,
    vault: VaultId,
    user: UserId,
    (role, statement): (VaultRole, Option<&[u8]>),
    t: i64,
) -> Result<(), StoreError> {
    match vault_role_on(conn, vault, user).await? {
        None => {
            sqlx::query(
                "INSERT INTO vault_members (vault_id, user_id, role, added_at, direct, \
                 role_statement) VALUES ($1, $2, $3, $4, 0, $5)",
            )
            .bind(vault.to_string())
            .bind(user.to_string())
            .bind(role.as_str())
            .bind(t)
            .bind(statement.map(<[u8]>::to_vec))
            .execute(&mut *conn)
            .await?;
        }
        Some(current) if current < role => {
            sqlx::query(
                "UPDATE vault_members SET role = $3, role_statement = $4 \
                 WHERE vault_id = $1 AND user_id = $2",
            )
            .bind(vault.to_string())
            .bind(user.to_string())
            .bind(role.as_str())
            .bind(statement.map(<[u8]>::to_vec))
            .execute(&mut *conn)
            .await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Creates a pending request for `user` to get `role` in `vault` through `team`, unless they
/// already hold at least that role or such a request is already pending.
async fn request_if_lacking(
    conn: &mut AnyConnection,
    (vault, user, team): (VaultId, UserId, TeamId),
    role: VaultRole,
    t: i64,
) -> Result<Option<AccessRequestId>, StoreError> {
    if vault_role_on(conn, vault, user)
        .await?
        .is_some_and(|r| r >= role)
    {
        return Ok(None);
    }
    let pending = sqlx::query(
        "SELECT id FROM access_requests WHERE vault_id = $1 AND user_id = $2 AND team_id = $3 \
         AND state = 'pending'",
    )
    .bind(vault.to_string())
    .bind(user.to_string())
    .bind(team.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    if pending.is_some() {
        return Ok(None);
    }
    let id = AccessRequestId::new_random();
    sqlx::query(
        "INSERT INTO access_requests (id, vault_id, user_id, role, team_id, created_at, state, \
         decided_by, decided_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', NULL, NULL)",
    )
    .bind(id.to_string())
    .bind(vault.to_string())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(team.to_string())
    .bind(t)
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}

/// Marks approved, by `by`, every pending request of `user` for `vault` asking at most `role`
/// (a share gave them that role).
async fn settle_requests(
    conn: &mut AnyConnection,
    vault: VaultId,
    user: UserId,
    role: VaultRole,
    by: UserId,
    t: i64,
) -> Result<(), StoreError> {
    let found = sqlx::query(
        "SELECT id, role FROM access_requests WHERE vault_id = $1 AND user_id = $2 \
         AND state = 'pending'",
    )
    .bind(vault.to_string())
    .bind(user.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for row in &found {
        let asked: VaultRole = rows::parsed(row, "role")?;
        if asked <= role {
            sqlx::query(
                "UPDATE access_requests SET state = 'approved', decided_by = $2, \
                 decided_at = $3 WHERE id = $1",
            )
            .bind(rows::text(row, "id")?)
            .bind(by.to_string())
            .bind(t)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

impl MainStore {
    /// Creates a team. `Conflict` if the id or the name (in its workspace) is taken;
    /// `NotFound` if the workspace does not exist; `Invalid` for an unusable name.
    pub async fn create_team(
        &self,
        new: &NewTeam,
        audit: Option<&AuditEvent>,
    ) -> Result<Team, StoreError> {
        check_text("team name", &new.name, false)?;
        let t = now();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO teams (id, workspace_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new.id.to_string())
        .bind(new.workspace_id.to_string())
        .bind(new.name.clone())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(Team {
            id: new.id,
            workspace_id: new.workspace_id,
            name: new.name.clone(),
            created_at: t,
        })
    }

    /// The team with this id.
    pub async fn team(&self, id: TeamId) -> Result<Team, StoreError> {
        let row = sqlx::query("SELECT id, workspace_id, name, created_at FROM teams WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        team_from_row(&row)
    }

    /// The teams of a workspace, by name, with their member and live vault counts.
    pub async fn teams_of_workspace(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<TeamSummary>, StoreError> {
        let found = sqlx::query(
            "SELECT t.id, t.workspace_id, t.name, t.created_at, \
             (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS members, \
             (SELECT COUNT(*) FROM team_vaults tv JOIN vaults v ON v.id = tv.vault_id \
              WHERE tv.team_id = t.id AND v.deleted = 0) AS vaults \
             FROM teams t WHERE t.workspace_id = $1 ORDER BY t.name, t.id",
        )
        .bind(workspace.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(TeamSummary {
                    team: team_from_row(row)?,
                    members: rows::count(rows::int(row, "members")?),
                    vaults: rows::count(rows::int(row, "vaults")?),
                })
            })
            .collect()
    }

    /// The members of a team, by email.
    pub async fn team_members(&self, team: TeamId) -> Result<Vec<TeamMember>, StoreError> {
        let found = sqlx::query(
            "SELECT m.user_id, u.email, m.added_at FROM team_members m \
             JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.email_key, m.user_id",
        )
        .bind(team.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(TeamMember {
                    user_id: rows::parsed(row, "user_id")?,
                    email: rows::text(row, "email")?,
                    added_at: rows::int(row, "added_at")?,
                })
            })
            .collect()
    }

    /// The live vaults a team is linked to, oldest link first.
    pub async fn team_vaults(&self, team: TeamId) -> Result<Vec<TeamVault>, StoreError> {
        let found = sqlx::query(
            "SELECT tv.vault_id, tv.role, tv.added_at FROM team_vaults tv \
             JOIN vaults v ON v.id = tv.vault_id WHERE tv.team_id = $1 AND v.deleted = 0 \
             ORDER BY tv.added_at, tv.vault_id",
        )
        .bind(team.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(TeamVault {
                    vault_id: rows::parsed(row, "vault_id")?,
                    role: rows::parsed(row, "role")?,
                    added_at: rows::int(row, "added_at")?,
                })
            })
            .collect()
    }

    /// Adds `user` to `team` and, in the same transaction, creates a pending access request
    /// for every live vault linked to the team where the user is not already a member with at
    /// least the team's role. Returns the new requests. `NotFound` for a missing team;
    /// `Invalid` when the user is not a member of the team's workspace; `Conflict` when they
    /// are already in the team.
    pub async fn add_team_member(
        &self,
        team: TeamId,
        user: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<Vec<AccessRequestId>, StoreError> {
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let tm = lock_team(&mut tx, &self.db, team).await?;
        let in_ws =
            sqlx::query("SELECT user_id FROM members WHERE workspace_id = $1 AND user_id = $2")
                .bind(tm.workspace_id.to_string())
                .bind(user.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if in_ws.is_none() {
            return Err(StoreError::Invalid(
                "the user is not a member of the team's workspace".into(),
            ));
        }
        let already =
            sqlx::query("SELECT user_id FROM team_members WHERE team_id = $1 AND user_id = $2")
                .bind(team.to_string())
                .bind(user.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if already.is_some() {
            return Err(StoreError::Conflict(
                "the user is already a member of the team".into(),
            ));
        }
        sqlx::query("INSERT INTO team_members (team_id, user_id, added_at) VALUES ($1, $2, $3)")
            .bind(team.to_string())
            .bind(user.to_string())
            .bind(t)
            .execute(&mut *tx)
            .await?;
        let linked = sqlx::query(
            "SELECT tv.vault_id, tv.role FROM team_vaults tv JOIN vaults v ON v.id = tv.vault_id \
             WHERE tv.team_id = $1 AND v.deleted = 0 ORDER BY tv.vault_id",
        )
        .bind(team.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut created = Vec::new();
        for row in &linked {
            let vault: VaultId = rows::parsed(row, "vault_id")?;
            let role: VaultRole = rows::parsed(row, "role")?;
            if let Some(id) = request_if_lacking(&mut tx, (vault, user, team), role, t).await? {
                created.push(id);
            }
        }
        self.finish(tx, audit).await?;
        Ok(created)
    }

    /// Removes `user` from `team` and, in the same transaction, removes the vault memberships
    /// they hold only through this team (not shared directly and not linked by another team of
    /// theirs) with every grant to them or their devices, flags those vaults for rotation, and
    /// drops their pending requests of this team. Returns the vaults they were removed from.
    /// `NotFound` when they are not in the team; `Conflict` when a removal would leave a vault
    /// without a manager (nothing changes).
    pub async fn remove_team_member(
        &self,
        team: TeamId,
        user: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<Vec<VaultId>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        lock_team(&mut tx, &self.db, team).await?;
        let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let only_through = sqlx::query(
            "SELECT tv.vault_id FROM team_vaults tv JOIN vaults v ON v.id = tv.vault_id \
             JOIN vault_members vm ON vm.vault_id = tv.vault_id AND vm.user_id = $2 \
             WHERE tv.team_id = $1 AND v.deleted = 0 AND vm.direct = 0 AND NOT EXISTS \
             (SELECT 1 FROM team_vaults o JOIN team_members om ON om.team_id = o.team_id \
              WHERE o.vault_id = tv.vault_id AND om.user_id = $2 AND o.team_id <> $1) \
             ORDER BY tv.vault_id",
        )
        .bind(team.to_string())
        .bind(user.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut removed = Vec::with_capacity(only_through.len());
        for row in &only_through {
            let vault: VaultId = rows::parsed(row, "vault_id")?;
            lock_vault(&mut tx, self.db.backend, vault).await?;
            if remove_from_vault(&mut tx, vault, user).await? {
                ensure_a_manager(&mut tx, vault).await?;
                removed.push(vault);
            }
        }
        sqlx::query(
            "DELETE FROM access_requests WHERE user_id = $1 AND team_id = $2 AND state = 'pending'",
        )
        .bind(user.to_string())
        .bind(team.to_string())
        .execute(&mut *tx)
        .await?;
        self.finish(tx, audit).await?;
        Ok(removed)
    }

    /// Links `team` to `vault` with `role` (or changes the link's role) and, in the same
    /// transaction, gives each team member in `shares` at least `role` with their grants
    /// (settling their pending requests of this vault that ask no more, as decided by `by`),
    /// and creates a pending request for every other team member who lacks the role. Returns
    /// the requests created. `NotFound` for a missing team or vault; `Invalid` when the team is
    /// of another workspace than the vault, a share names someone not in the team (or twice),
    /// or a grant names an epoch the vault lacks.
    pub async fn link_team_vault(
        &self,
        (vault, team): (VaultId, TeamId),
        role: VaultRole,
        shares: &[TeamShare],
        by: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<Vec<AccessRequestId>, StoreError> {
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let tm = lock_team(&mut tx, &self.db, team).await?;
        let v = lock_vault(&mut tx, self.db.backend, vault).await?;
        if v.workspace_id != Some(tm.workspace_id) {
            return Err(StoreError::Invalid(
                "the team belongs to another workspace than the vault".into(),
            ));
        }
        let members = sqlx::query("SELECT user_id FROM team_members WHERE team_id = $1")
            .bind(team.to_string())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| rows::parsed::<UserId>(r, "user_id"))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let mut shared = BTreeSet::new();
        for s in shares {
            if !members.contains(&s.user) {
                return Err(StoreError::Invalid(format!(
                    "user {} is not a member of the team",
                    s.user
                )));
            }
            if !shared.insert(s.user) {
                return Err(StoreError::Invalid(format!(
                    "user {} is listed twice",
                    s.user
                )));
            }
            check_epochs(&s.grants, v.epoch)?;
        }
        sqlx::query(
            "INSERT INTO team_vaults (team_id, vault_id, role, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_id, vault_id) DO UPDATE SET role = excluded.role",
        )
        .bind(team.to_string())
        .bind(vault.to_string())
        .bind(role.as_str())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        for s in shares {
            grant_membership(&mut tx, vault, s.user, (role, s.statement.as_deref()), t).await?;
            for g in &s.grants {
                insert_grant(&mut tx, vault, g, t).await?;
            }
            settle_requests(&mut tx, vault, s.user, role, by, t).await?;
        }
        let mut created = Vec::new();
        for user in members.difference(&shared) {
            if let Some(id) = request_if_lacking(&mut tx, (vault, *user, team), role, t).await? {
                created.push(id);
            }
        }
        self.finish(tx, audit).await?;
        Ok(created)
    }

    /// One access request, whatever its state.
    pub async fn access_request(&self, id: AccessRequestId) -> Result<AccessRequest, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        request_on(&mut conn, id).await
    }

    /// The pending requests of live vaults `manager` manages, oldest first.
    pub async fn pending_access_requests(
        &self,
        manager: UserId,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let found = sqlx::query(concat!(
            request_select!(),
            " JOIN vaults v ON v.id = r.vault_id \
             WHERE r.state = 'pending' AND v.deleted = 0 AND r.vault_id IN \
             (SELECT vault_id FROM vault_members WHERE user_id = $1 AND role = 'manager') \
             ORDER BY r.created_at, r.id"
        ))
        .bind(manager.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        found.iter().map(request_from_row).collect()
    }

    /// Approves a pending request: gives its user at least its role in its vault, stores the
    /// grants, and marks it approved by `by`, in one transaction. `NotFound` for a missing
    /// request or a deleted vault; `Conflict` when it is no longer pending; `Invalid` for a
    /// grant of an epoch the vault lacks.
    pub async fn approve_access_request(
        &self,
        id: AccessRequestId,
        grants: &[NewGrant],
        statement: Option<&[u8]>,
        by: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<AccessRequest, StoreError> {
        let t = now();
        let mut tx = self.db.begin_write().await?;
        let r = request_on(&mut tx, id).await?;
        let v = lock_vault(&mut tx, self.db.backend, r.vault_id).await?;
        check_epochs(grants, v.epoch)?;
        let done = sqlx::query(
            "UPDATE access_requests SET state = 'approved', decided_by = $2, decided_at = $3 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .bind(by.to_string())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "the access request is already {}",
                r.state
            )));
        }
        grant_membership(&mut tx, r.vault_id, r.user_id, (r.role, statement), t).await?;
        for g in grants {
            insert_grant(&mut tx, r.vault_id, g, t).await?;
        }
        let decided = request_on(&mut tx, id).await?;
        self.finish(tx, audit).await?;
        Ok(decided)
    }

    /// Denies a pending request (nothing is granted). `NotFound` for a missing request;
    /// `Conflict` when it is no longer pending.
    pub async fn deny_access_request(
        &self,
        id: AccessRequestId,
        by: UserId,
        audit: Option<&AuditEvent>,
    ) -> Result<AccessRequest, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let r = request_on(&mut tx, id).await?;
        let done = sqlx::query(
            "UPDATE access_requests SET state = 'denied', decided_by = $2, decided_at = $3 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .bind(by.to_string())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "the access request is already {}",
                r.state
            )));
        }
        let decided = request_on(&mut tx, id).await?;
        self.finish(tx, audit).await?;
        Ok(decided)
    }
}

/// Removes `user` from every team of `workspace` and drops their pending requests there (they
/// left or were removed from the workspace; their vault memberships go with
/// `sharing::after_workspace_member_removed`).
pub(super) async fn after_workspace_member_removed(
    conn: &mut AnyConnection,
    workspace: &str,
    user: UserId,
) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM access_requests WHERE user_id = $2 AND state = 'pending' AND team_id IN \
         (SELECT id FROM teams WHERE workspace_id = $1)",
        "DELETE FROM team_members WHERE user_id = $2 AND team_id IN \
         (SELECT id FROM teams WHERE workspace_id = $1)",
    ] {
        sqlx::query(sql)
            .bind(workspace.to_owned())
            .bind(user.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
