//! Wire types of teams and access requests (`docs/protocol.md` §18.5).
//!
//! A team is a named group of members of one workspace. Linking a team to a vault with a role
//! asks that every team member hold that role in the vault; because only a client can seal a
//! vault key, the server turns "should have access" into **access requests** that a vault
//! manager's device approves by issuing the grants (`PUT /v1/vaults/{id}/members/{user}` with
//! the request's id) or denies.

use serde::{Deserialize, Serialize};

use crate::ids::{AccessRequestId, TeamId, UserId, VaultId, WorkspaceId};
use crate::state::AccessRequestState;
use crate::vault::{VaultGrant, VaultRole};

/// `POST /v1/workspaces/{id}/teams`: a new team.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateTeamRequest {
    /// Its name, unique in the workspace (1 to 128 bytes, trimmed).
    pub name: String,
}

/// One team of `GET /v1/workspaces/{id}/teams` (and the answer of its `POST`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamInfo {
    /// The team.
    pub team_id: TeamId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// How many members it has.
    pub members: u64,
    /// How many (live) vaults it is linked to.
    pub vaults: u64,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamMemberInfo {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Added, Unix seconds.
    pub added_at: i64,
}

/// A vault a team is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamVaultInfo {
    /// The vault.
    pub vault_id: VaultId,
    /// The role its team members get.
    pub role: VaultRole,
    /// Linked, Unix seconds.
    pub added_at: i64,
}

/// `GET /v1/teams/{id}`: a team with its members and vaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamDetail {
    /// The team.
    pub team_id: TeamId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Its members, by email.
    pub members: Vec<TeamMemberInfo>,
    /// Its vaults.
    pub vaults: Vec<TeamVaultInfo>,
}

/// Answer of `PUT /v1/teams/{id}/members/{user}`: the access requests created, one per linked
/// vault where the user lacked the team's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamMemberAdded {
    /// The new pending requests.
    pub requests: Vec<AccessRequestId>,
}

/// Answer of `DELETE /v1/teams/{id}/members/{user}`: the vaults the user was removed from
/// (memberships held only through this team); each is flagged for key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamMemberRemoved {
    /// The vaults.
    pub vaults: Vec<VaultId>,
}

/// The grants for one team member in [`LinkTeamRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamShare {
    /// The team member.
    pub user_id: UserId,
    /// Grants of the vault's keys to their identity and trusted devices.
    pub grants: Vec<VaultGrant>,
    /// Their role statement signed by the caller's identity (protocol.md §18.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<crate::api::B64>,
}

/// `PUT /v1/vaults/{id}/teams/{team}`: links a team to a vault with a role and, in the same
/// transaction, shares the vault with the team members listed (as the batch share does). Team
/// members not listed who lack the role get a pending access request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LinkTeamRequest {
    /// The role team members get.
    pub role: VaultRole,
    /// Shares with current team members.
    #[serde(default)]
    pub shares: Vec<TeamShare>,
}

/// Answer of `PUT /v1/vaults/{id}/teams/{team}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamLinked {
    /// The team members the vault was shared with.
    pub shared: Vec<UserId>,
    /// Access requests created for team members not shared with.
    pub requests: Vec<AccessRequestId>,
}

/// One access request (`GET /v1/access-requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AccessRequestInfo {
    /// The request.
    pub request_id: AccessRequestId,
    /// The vault.
    pub vault_id: VaultId,
    /// The vault's workspace.
    pub workspace_id: WorkspaceId,
    /// Who would get access.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// The role asked for (the team's role in the vault).
    pub role: VaultRole,
    /// The team that caused it.
    pub team_id: TeamId,
    /// Its name.
    pub team_name: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Pending, approved or denied.
    pub state: AccessRequestState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_request_without_shares_parses() {
        let r: LinkTeamRequest = serde_json::from_str(r#"{"role":"editor"}"#).unwrap();
        assert_eq!(r.role, VaultRole::Editor);
        assert!(r.shares.is_empty());
        assert!(serde_json::from_str::<LinkTeamRequest>(r#"{"role":"owner"}"#).is_err());
    }
}
