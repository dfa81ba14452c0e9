//! Teams and access requests (docs/protocol.md §18.5).
//!
//! - **Teams**: create, list, show, add and remove members (the server lets owners and admins
//!   manage them). Adding a member makes the server open a pending access request for each
//!   vault linked to the team; removing one drops the vault memberships held through the team
//!   and flags those vaults for rotation (a manager's next sync rotates them).
//! - **Share a vault with a team** ([`Client::vault_share_team`]): the vault's keys are sealed to
//!   every current team member who lacks the role exactly as the batch share does (one sync,
//!   one trust decision, every member verified before anything is sent: one identity this
//!   device does not trust refuses the whole batch loudly); then one request links the team
//!   and records every share in one transaction.
//! - **Access requests**: a vault manager lists them, approves (this device seals the grants to
//!   the requester after the same trust checks, all requests verified before any is sent; the
//!   server records the membership and the approval together) or denies.

use std::collections::BTreeMap;

use coffer_proto::api::MemberInfo;
use coffer_proto::teams::{
    AccessRequestInfo, CreateTeamRequest, LinkTeamRequest, TeamDetail, TeamInfo, TeamLinked,
    TeamMemberAdded, TeamMemberInfo, TeamMemberRemoved, TeamShare,
};
use coffer_proto::vault::{ShareVaultRequest, VaultRole};
use coffer_proto::{AccessRequestId, TeamId, UserId, VaultId, WorkspaceId};
use reqwest::Method;

use crate::Client;
use crate::error::{ClientError, Result};
use crate::net::Net;
use crate::sharing::{PlannedShare, find_vault, vault_of};
use crate::vaults::resolve;

/// A team with the name of its workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamEntry {
    /// The workspace's name.
    pub workspace: String,
    /// The team.
    pub team: TeamInfo,
}

/// A team's members and vaults, with the names of the vaults this device holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamView {
    /// The workspace's name.
    pub workspace: String,
    /// The team as served.
    pub detail: TeamDetail,
    /// Names of its vaults this device can open (the server knows only ids).
    pub vault_names: BTreeMap<VaultId, String>,
}

/// An access request with the vault's name when this device holds the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequestView {
    /// The request as served.
    pub info: AccessRequestInfo,
    /// The vault's name, when this device can open it.
    pub vault_name: Option<String>,
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The request.
    pub request_id: AccessRequestId,
    /// Who got access.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// The vault.
    pub vault_id: VaultId,
    /// Its name.
    pub vault_name: String,
    /// The role they got.
    pub role: VaultRole,
    /// Their certified devices that got grants.
    pub devices: usize,
    /// Grants issued.
    pub grants: usize,
}

/// What sharing a vault with a team did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamShareReport {
    /// The team.
    pub team_id: TeamId,
    /// The role.
    pub role: VaultRole,
    /// Team members shared with now: (user, email, devices, grants).
    pub shared: Vec<(UserId, String, usize, usize)>,
    /// Access requests the server opened for team members added meanwhile.
    pub requests: usize,
}

fn id_of<T: std::str::FromStr>(kind: &'static str, s: &str) -> Result<T> {
    s.trim().parse().map_err(|_| ClientError::NotFound {
        kind,
        name: s.to_owned(),
    })
}

impl Client {
    /// The workspace to use: `workspace` (name or id) or, without it, the only workspace of the
    /// account.
    async fn pick_workspace(&self, workspace: Option<&str>) -> Result<(WorkspaceId, String)> {
        if let Some(w) = workspace {
            let ws = self.resolve_workspace(w).await?;
            return Ok((ws.workspace_id, ws.name));
        }
        let all = self.workspaces().await?;
        match all.as_slice() {
            [one] => Ok((one.workspace_id, one.name.clone())),
            [] => Err(ClientError::Invalid(
                "you are in no workspace: create or join one first".into(),
            )),
            _ => Err(ClientError::Invalid(
                "you are in several workspaces: give --workspace".into(),
            )),
        }
    }

    /// Creates team `name` in `workspace` (or the account's only workspace). Owners and admins.
    pub async fn team_create(&self, name: &str, workspace: Option<&str>) -> Result<TeamInfo> {
        let (ws, _) = self.pick_workspace(workspace).await?;
        self.post(
            &format!("v1/workspaces/{ws}/teams"),
            &CreateTeamRequest {
                name: name.to_owned(),
            },
        )
        .await
    }

    /// The teams of `workspace`, or of every workspace of the account.
    pub async fn teams(&self, workspace: Option<&str>) -> Result<Vec<TeamEntry>> {
        let spaces: Vec<(WorkspaceId, String)> = match workspace {
            Some(w) => {
                let ws = self.resolve_workspace(w).await?;
                vec![(ws.workspace_id, ws.name)]
            }
            None => self
                .workspaces()
                .await?
                .into_iter()
                .map(|w| (w.workspace_id, w.name))
                .collect(),
        };
        let mut out = Vec::new();
        for (id, name) in spaces {
            let teams: Vec<TeamInfo> = self.get(&format!("v1/workspaces/{id}/teams")).await?;
            out.extend(teams.into_iter().map(|team| TeamEntry {
                workspace: name.clone(),
                team,
            }));
        }
        Ok(out)
    }

    /// Resolves a team by id, name or unique prefix, in `workspace` or across the account's
    /// workspaces (a name found in several is ambiguous).
    pub async fn resolve_team(&self, team: &str, workspace: Option<&str>) -> Result<TeamEntry> {
        let all = self.teams(workspace).await?;
        let candidates: Vec<(String, String, TeamEntry)> = all
            .into_iter()
            .map(|e| (e.team.team_id.to_string(), e.team.name.clone(), e))
            .collect();
        resolve("team", team, &candidates).cloned()
    }

    async fn team_in(&self, team: &str, ws: WorkspaceId) -> Result<TeamInfo> {
        let teams: Vec<TeamInfo> = self.get(&format!("v1/workspaces/{ws}/teams")).await?;
        let candidates: Vec<(String, String, TeamInfo)> = teams
            .into_iter()
            .map(|t| (t.team_id.to_string(), t.name.clone(), t))
            .collect();
        resolve("team", team, &candidates).cloned()
    }

    /// Names of the vaults this device holds (empty when locked or without a cache).
    async fn vault_names(&self) -> BTreeMap<VaultId, String> {
        match self.read_state().await {
            Ok((_, state)) => state
                .vaults
                .values()
                .map(|v| (v.id, v.record.name.clone()))
                .collect(),
            Err(_) => BTreeMap::new(),
        }
    }

    /// A team's members and vaults.
    pub async fn team_show(&self, team: &str, workspace: Option<&str>) -> Result<TeamView> {
        let entry = self.resolve_team(team, workspace).await?;
        let detail: TeamDetail = self
            .get(&format!("v1/teams/{}", entry.team.team_id))
            .await?;
        let mut vault_names = self.vault_names().await;
        vault_names.retain(|id, _| detail.vaults.iter().any(|v| v.vault_id == *id));
        Ok(TeamView {
            workspace: entry.workspace,
            detail,
            vault_names,
        })
    }

    /// Adds workspace member `email` to a team (owners and admins). Returns the member and the
    /// access requests the server opened for the team's vaults.
    pub async fn team_add(
        &self,
        team: &str,
        email: &str,
        workspace: Option<&str>,
    ) -> Result<(MemberInfo, TeamMemberAdded)> {
        let entry = self.resolve_team(team, workspace).await?;
        let m = self.resolve_member(entry.team.workspace_id, email).await?;
        let added: TeamMemberAdded = Net::of(self)?
            .json::<(), _>(
                Method::PUT,
                &format!("v1/teams/{}/members/{}", entry.team.team_id, m.user_id),
                None,
            )
            .await?;
        Ok((m, added))
    }

    /// Removes `email` from a team (owners and admins). Returns the member and the vaults they
    /// lost (held only through the team); those vaults rotate on a manager's next sync.
    pub async fn team_remove(
        &self,
        team: &str,
        email: &str,
        workspace: Option<&str>,
    ) -> Result<(TeamMemberInfo, TeamMemberRemoved)> {
        let entry = self.resolve_team(team, workspace).await?;
        let detail: TeamDetail = self
            .get(&format!("v1/teams/{}", entry.team.team_id))
            .await?;
        let want = email.trim().to_lowercase();
        let m = detail
            .members
            .iter()
            .find(|m| m.email.to_lowercase() == want || m.user_id.to_string() == want)
            .ok_or_else(|| ClientError::NotFound {
                kind: "team member",
                name: email.to_owned(),
            })?;
        let removed: TeamMemberRemoved = Net::of(self)?
            .json::<(), _>(
                Method::DELETE,
                &format!("v1/teams/{}/members/{}", entry.team.team_id, m.user_id),
                None,
            )
            .await?;
        Ok((m.clone(), removed))
    }

    /// Shares `vault` with every current member of `team` (in the vault's workspace) as
    /// `role`, and links the team so that later members get access requests. Members who
    /// already hold at least `role` (and this user) are skipped. Every member is trust-checked
    /// and sealed to before anything is sent: one untrusted identity refuses the whole share.
    pub async fn vault_share_team(
        &mut self,
        vault: &str,
        team: &str,
        role: VaultRole,
    ) -> Result<TeamShareReport> {
        let (ctx, state) = self.write_state().await?;
        let vk = find_vault(&state, vault)?;
        let v = vault_of(&state, &vk)?;
        let ws = v.workspace.ok_or_else(|| {
            ClientError::Invalid(
                "a personal vault cannot be shared: create the vault in a workspace".into(),
            )
        })?;
        let t = self.team_in(team, ws).await?;
        let detail: TeamDetail = self.get(&format!("v1/teams/{}", t.team_id)).await?;
        let current = self.vault_member_list(v.id).await?;
        let need: Vec<String> = detail
            .members
            .iter()
            .filter(|m| m.user_id != ctx.keys.user_id)
            .filter(|m| {
                !current
                    .iter()
                    .any(|c| c.user_id == m.user_id && c.role >= role)
            })
            .map(|m| m.user_id.to_string())
            .collect();
        let who: Vec<&str> = need.iter().map(String::as_str).collect();
        let planned = self.plan_shares(&ctx, &state, vk, &who, role).await?;
        let emails: BTreeMap<UserId, String> = detail
            .members
            .iter()
            .map(|m| (m.user_id, m.email.clone()))
            .collect();
        let shared = planned
            .iter()
            .map(|p| {
                (
                    p.user,
                    emails.get(&p.user).cloned().unwrap_or_default(),
                    p.devices,
                    p.grants.len(),
                )
            })
            .collect();
        let req = LinkTeamRequest {
            role,
            shares: planned
                .into_iter()
                .map(|p| TeamShare {
                    user_id: p.user,
                    grants: p.grants,
                    statement: Some(p.statement),
                })
                .collect(),
        };
        let linked: TeamLinked = Net::of(self)?
            .json(
                Method::PUT,
                &format!("v1/vaults/{}/teams/{}", v.id, t.team_id),
                Some(&req),
            )
            .await?;
        Ok(TeamShareReport {
            team_id: t.team_id,
            role,
            shared,
            requests: linked.requests.len(),
        })
    }

    /// The pending access requests of the vaults this user manages.
    pub async fn access_requests(&self) -> Result<Vec<AccessRequestView>> {
        let all: Vec<AccessRequestInfo> = self.get("v1/access-requests").await?;
        let names = if all.is_empty() {
            BTreeMap::new()
        } else {
            self.vault_names().await
        };
        Ok(all
            .into_iter()
            .map(|info| AccessRequestView {
                vault_name: names.get(&info.vault_id).cloned(),
                info,
            })
            .collect())
    }

    /// Resolves a pending request by id or unique id prefix.
    fn pick_request<'a>(all: &'a [AccessRequestInfo], id: &str) -> Result<&'a AccessRequestInfo> {
        let candidates: Vec<(String, String, &AccessRequestInfo)> = all
            .iter()
            .map(|r| (r.request_id.to_string(), r.request_id.to_string(), r))
            .collect();
        resolve("access request", id, &candidates).copied()
    }

    /// Approves pending access request `id` (id or unique prefix), or every pending request
    /// with `None`: this device seals the vault's keys to each requester after the trust
    /// checks of a share. Every request is verified and sealed before any is sent, so one
    /// requester this device does not trust refuses the whole batch and nothing is sent.
    pub async fn access_approve(&mut self, id: Option<&str>) -> Result<Vec<Approved>> {
        let all: Vec<AccessRequestInfo> = self.get("v1/access-requests").await?;
        let chosen: Vec<AccessRequestInfo> = match id {
            Some(id) => vec![Self::pick_request(&all, id)?.clone()],
            None => all,
        };
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let (ctx, state) = self.write_state().await?;
        let mut by_vault: BTreeMap<VaultId, Vec<AccessRequestInfo>> = BTreeMap::new();
        for r in chosen {
            by_vault.entry(r.vault_id).or_default().push(r);
        }
        let mut planned: Vec<(AccessRequestInfo, String, PlannedShare)> = Vec::new();
        for (vault, reqs) in &by_vault {
            let vk = *vault.as_uuid().as_bytes();
            let v = state.vaults.get(&vk).ok_or_else(|| {
                ClientError::Invalid(format!(
                    "this device does not hold vault {vault}: sync, or approve from a device \
                     that does"
                ))
            })?;
            // one plan per request: each carries its own role (and role statement)
            for r in reqs {
                let user = r.user_id.to_string();
                let mut shares = self
                    .plan_shares(&ctx, &state, vk, &[user.as_str()], r.role)
                    .await?;
                let p = shares
                    .pop()
                    .ok_or_else(|| ClientError::Protocol("a share plan was empty".into()))?;
                planned.push((r.clone(), v.record.name.clone(), p));
            }
        }
        let mut out = Vec::with_capacity(planned.len());
        for (r, vault_name, p) in planned {
            let grants = p.grants.len();
            self.put(
                &format!("v1/vaults/{}/members/{}", r.vault_id, r.user_id),
                &ShareVaultRequest {
                    role: r.role,
                    grants: p.grants,
                    request_id: Some(r.request_id),
                    statement: Some(p.statement),
                },
            )
            .await?;
            out.push(Approved {
                request_id: r.request_id,
                user_id: r.user_id,
                email: r.email,
                vault_id: r.vault_id,
                vault_name,
                role: r.role,
                devices: p.devices,
                grants,
            });
        }
        Ok(out)
    }

    /// Denies pending access request `id` (id or unique prefix): nothing is granted.
    pub async fn access_deny(&self, id: &str) -> Result<AccessRequestInfo> {
        let all: Vec<AccessRequestInfo> = self.get("v1/access-requests").await?;
        let target = match Self::pick_request(&all, id) {
            Ok(r) => r.request_id,
            // Not listed (not pending, or not ours): let the server say why.
            Err(ClientError::NotFound { .. }) => id_of("access request", id)?,
            Err(e) => return Err(e),
        };
        Net::of(self)?
            .json::<(), _>(
                Method::POST,
                &format!("v1/access-requests/{target}/deny"),
                None,
            )
            .await
    }
}
