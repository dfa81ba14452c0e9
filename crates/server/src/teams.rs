//! Teams and access requests (docs/protocol.md §18.5).
//!
//! - Owners and admins of a workspace create teams and add or remove their members
//!   ([`Action::ManageTeams`]); any member may list and read them.
//! - A vault manager links a team to a vault with a role (`PUT /v1/vaults/{id}/teams/{team}`),
//!   sharing the vault in the same transaction with the team members their device sealed grants
//!   to; other team members get a pending access request.
//! - Adding a user to a team creates a pending request per linked vault where they lack the
//!   role. The server cannot act on it (it holds no key): a manager of the vault lists the
//!   requests (`GET /v1/access-requests`) and approves one by sharing with the request's id
//!   (`PUT /v1/vaults/{id}/members/{user}` with `request_id`, checked here by [`approve`]), or
//!   denies it (`POST /v1/access-requests/{id}/deny`).
//! - Removing a user from a team removes the vault memberships they held only through it and
//!   flags those vaults for rotation, which a manager's next sync carries out.

use axum::extract::State;
use axum::http::StatusCode;
use coffer_proto::teams::{
    AccessRequestInfo, CreateTeamRequest, LinkTeamRequest, TeamDetail, TeamInfo, TeamLinked,
    TeamMemberAdded, TeamMemberInfo, TeamMemberRemoved, TeamVaultInfo,
};
use coffer_proto::vault::VaultRole;
use coffer_proto::{AccessRequestId, TeamId, UserId, VaultId, WorkspaceId};
use coffer_store::{AccessRequest, NewGrant, NewTeam, StoreError, Team, TeamShare, Vault};

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::policy::{self, Action};
use crate::session::Caller;
use crate::sharing::{check_grants, check_role_statement, event_for, require_manager};
use crate::state::AppState;
use crate::vaults::trusted_device;
use crate::workspaces::membership;

/// Longest team name accepted.
const MAX_NAME_LEN: usize = 128;

fn authorize(role: coffer_proto::Role, action: Action) -> ApiResult<()> {
    policy::authorize(role, action)
        .map_err(|_| ServerError::Forbidden("your role does not allow this"))
}

/// The team, after checking the caller is a member of its workspace (the MFA policy applies)
/// and may do `action` there. `404 team` for a missing team or one of another workspace.
async fn team_for(
    state: &AppState,
    caller: &Caller,
    id: TeamId,
    action: Action,
) -> ApiResult<Team> {
    let team = match state.main.team(id).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("team")),
        Err(e) => return Err(e.into()),
    };
    let m = match membership(state, caller, team.workspace_id).await {
        Err(ServerError::NotFound(_)) => return Err(ServerError::NotFound("team")),
        other => other?,
    };
    authorize(m.role, action)?;
    Ok(team)
}

fn request_info(r: AccessRequest) -> AccessRequestInfo {
    AccessRequestInfo {
        request_id: r.id,
        vault_id: r.vault_id,
        workspace_id: r.workspace_id,
        user_id: r.user_id,
        email: r.email,
        role: r.role,
        team_id: r.team_id,
        team_name: r.team_name,
        created_at: r.created_at,
        state: r.state,
    }
}

fn team_event(caller: &Caller, action: &str, team: &Team) -> coffer_store::AuditEvent {
    caller
        .event(action, team.id.to_string())
        .workspace(team.workspace_id)
}

/// `POST /v1/workspaces/{ws}/teams`: creates a team (owners and admins).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/teams", tag = "teams",
    params(("ws" = WorkspaceId, Path, description = "workspace id")),
    request_body = CreateTeamRequest,
    responses((status = 201, body = TeamInfo), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<WorkspaceId>,
    Json(req): Json<CreateTeamRequest>,
) -> ApiResult<(StatusCode, Json<TeamInfo>)> {
    let m = membership(&state, &caller, ws).await?;
    authorize(m.role, Action::ManageTeams)?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ServerError::BadRequest(
            "name: 1 to 128 bytes, no control characters".into(),
        ));
    }
    let id = TeamId::new_random();
    let event = caller
        .event("team.create", id.to_string())
        .workspace(ws)
        .details(serde_json::json!({ "name": name }));
    let new = NewTeam {
        id,
        workspace_id: ws,
        name: name.to_owned(),
    };
    let team = match state.main.create_team(&new, Some(&event)).await {
        Ok(t) => t,
        Err(StoreError::Conflict(_)) => {
            return Err(ServerError::Conflict(format!(
                "a team named \"{name}\" already exists in this workspace"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((
        StatusCode::CREATED,
        Json(TeamInfo {
            team_id: team.id,
            workspace_id: team.workspace_id,
            name: team.name,
            created_at: team.created_at,
            members: 0,
            vaults: 0,
        }),
    ))
}

/// `GET /v1/workspaces/{ws}/teams`: the workspace's teams (any member).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/teams", tag = "teams",
    params(("ws" = WorkspaceId, Path, description = "workspace id")),
    responses((status = 200, body = Vec<TeamInfo>), (status = 404, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<WorkspaceId>,
) -> ApiResult<Json<Vec<TeamInfo>>> {
    let m = membership(&state, &caller, ws).await?;
    authorize(m.role, Action::ReadWorkspace)?;
    let all = state.main.teams_of_workspace(ws).await?;
    Ok(Json(
        all.into_iter()
            .map(|s| TeamInfo {
                team_id: s.team.id,
                workspace_id: s.team.workspace_id,
                name: s.team.name,
                created_at: s.team.created_at,
                members: s.members,
                vaults: s.vaults,
            })
            .collect(),
    ))
}

/// `GET /v1/teams/{id}`: a team with its members and linked vaults (any workspace member).
#[utoipa::path(get, path = "/v1/teams/{id}", tag = "teams",
    params(("id" = TeamId, Path, description = "team id")),
    responses((status = 200, body = TeamDetail), (status = 404, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<TeamId>,
) -> ApiResult<Json<TeamDetail>> {
    let team = team_for(&state, &caller, id, Action::ReadWorkspace).await?;
    let members = state.main.team_members(id).await?;
    let vaults = state.main.team_vaults(id).await?;
    Ok(Json(TeamDetail {
        team_id: team.id,
        workspace_id: team.workspace_id,
        name: team.name,
        created_at: team.created_at,
        members: members
            .into_iter()
            .map(|m| TeamMemberInfo {
                user_id: m.user_id,
                email: m.email,
                added_at: m.added_at,
            })
            .collect(),
        vaults: vaults
            .into_iter()
            .map(|v| TeamVaultInfo {
                vault_id: v.vault_id,
                role: v.role,
                added_at: v.added_at,
            })
            .collect(),
    }))
}

/// `PUT /v1/teams/{id}/members/{user_id}`: adds a workspace member to a team (owners and
/// admins); creates a pending access request per linked vault where they lack the team's role.
#[utoipa::path(put, path = "/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = TeamId, Path, description = "team id"),
           ("user_id" = UserId, Path, description = "the member to add")),
    responses((status = 200, body = TeamMemberAdded), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(TeamId, UserId)>,
) -> ApiResult<Json<TeamMemberAdded>> {
    let team = team_for(&state, &caller, id, Action::ManageTeams).await?;
    // The request count is not known before the transaction; the event names the user.
    let event =
        team_event(&caller, "team.member.add", &team).details(serde_json::json!({ "user": user }));
    match state.main.add_team_member(id, user, Some(&event)).await {
        Ok(requests) => Ok(Json(TeamMemberAdded { requests })),
        Err(StoreError::Invalid(m)) => Err(ServerError::BadRequest(m)),
        Err(StoreError::Conflict(m)) => Err(ServerError::Conflict(m)),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("team")),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/teams/{id}/members/{user_id}`: removes a member from a team (owners and
/// admins), with the vault memberships they held only through it (flagged for rotation).
#[utoipa::path(delete, path = "/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = TeamId, Path, description = "team id"),
           ("user_id" = UserId, Path, description = "the member to remove")),
    responses((status = 200, body = TeamMemberRemoved),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(TeamId, UserId)>,
) -> ApiResult<Json<TeamMemberRemoved>> {
    let team = team_for(&state, &caller, id, Action::ManageTeams).await?;
    let event = team_event(&caller, "team.member.remove", &team)
        .details(serde_json::json!({ "user": user }));
    match state.main.remove_team_member(id, user, Some(&event)).await {
        Ok(vaults) => Ok(Json(TeamMemberRemoved { vaults })),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("team member")),
        Err(StoreError::Conflict(m)) => Err(ServerError::Conflict(m)),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /v1/vaults/{id}/teams/{team_id}`: links a team to a vault with a role and shares the
/// vault with the team members listed, in one transaction (vault managers). Every grant is
/// checked as for a share; unlisted team members lacking the role get access requests.
#[utoipa::path(put, path = "/v1/vaults/{id}/teams/{team_id}", tag = "teams",
    params(("id" = VaultId, Path, description = "vault id"),
           ("team_id" = TeamId, Path, description = "team id")),
    request_body = LinkTeamRequest,
    responses((status = 200, body = TeamLinked), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, team_id)): Path<(VaultId, TeamId)>,
    Json(req): Json<LinkTeamRequest>,
) -> ApiResult<Json<TeamLinked>> {
    let device = trusted_device(&state, &caller).await?;
    require_manager(&state, &caller, id).await?;
    let vault = state.main.vault(id).await?;
    let team = team_for(&state, &caller, team_id, Action::ReadWorkspace).await?;
    if vault.workspace_id != Some(team.workspace_id) {
        return Err(ServerError::BadRequest(
            "the team belongs to another workspace than the vault".into(),
        ));
    }
    let mut shares = Vec::with_capacity(req.shares.len());
    for (i, s) in req.shares.iter().enumerate() {
        let grants = check_grants(&state, &caller, &device, &vault, &s.grants, Some(s.user_id))
            .await
            .map_err(|e| match e {
                ServerError::BadRequest(m) => ServerError::BadRequest(format!("shares[{i}].{m}")),
                other => other,
            })?;
        let statement = match &s.statement {
            Some(st) => Some(
                check_role_statement(&state, &caller, &st.0, id, s.user_id, req.role)
                    .await
                    .map_err(|e| match e {
                        ServerError::BadRequest(m) => {
                            ServerError::BadRequest(format!("shares[{i}].{m}"))
                        }
                        other => other,
                    })?,
            ),
            None => None,
        };
        shares.push(TeamShare {
            user: s.user_id,
            grants,
            statement,
        });
    }
    let shared: Vec<UserId> = shares.iter().map(|s| s.user).collect();
    let event = event_for(&caller, "vault.share_team", &vault).details(serde_json::json!({
        "team": team_id, "role": req.role.as_str(), "shared": shared,
    }));
    match state
        .main
        .link_team_vault(
            (id, team_id),
            req.role,
            &shares,
            caller.user_id,
            Some(&event),
        )
        .await
    {
        Ok(requests) => Ok(Json(TeamLinked { shared, requests })),
        Err(StoreError::Invalid(m)) => Err(ServerError::BadRequest(m)),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("vault")),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/access-requests`: the pending access requests of the vaults the caller manages.
#[utoipa::path(get, path = "/v1/access-requests", tag = "teams",
    responses((status = 200, body = Vec<AccessRequestInfo>)), security(("bearer" = [])))]
pub async fn requests(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AccessRequestInfo>>> {
    let found = state.main.pending_access_requests(caller.user_id).await?;
    Ok(Json(found.into_iter().map(request_info).collect()))
}

/// `POST /v1/access-requests/{id}/deny`: refuses a pending request (managers of its vault).
#[utoipa::path(post, path = "/v1/access-requests/{id}/deny", tag = "teams",
    params(("id" = AccessRequestId, Path, description = "access request id")),
    responses((status = 200, body = AccessRequestInfo),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<AccessRequestId>,
) -> ApiResult<Json<AccessRequestInfo>> {
    trusted_device(&state, &caller).await?;
    let r = visible_request(&state, &caller, id).await?;
    let vault = state.main.vault(r.vault_id).await?;
    let event = event_for(&caller, "access.deny", &vault).details(serde_json::json!({
        "request": id, "user": r.user_id, "role": r.role.as_str(), "team": r.team_id,
    }));
    match state
        .main
        .deny_access_request(id, caller.user_id, Some(&event))
        .await
    {
        Ok(r) => Ok(Json(request_info(r))),
        Err(StoreError::Conflict(m)) => Err(ServerError::Conflict(m)),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("access request")),
        Err(e) => Err(e.into()),
    }
}

/// The request, if the caller manages its vault: `404 access request` when it does not exist
/// or the caller is not a member of its vault, `403` for a member who is not a manager.
async fn visible_request(
    state: &AppState,
    caller: &Caller,
    id: AccessRequestId,
) -> ApiResult<AccessRequest> {
    let r = match state.main.access_request(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("access request")),
        Err(e) => return Err(e.into()),
    };
    match require_manager(state, caller, r.vault_id).await {
        Err(ServerError::NotFound(_)) => Err(ServerError::NotFound("access request")),
        other => other.map(|()| r),
    }
}

/// Approves request `id` with grants already checked by the share handler (caller is a
/// manager of `vault`, the grants are sealed to `user` and their devices): the request must be
/// pending and name this vault, this user and this role. Membership, grants and decision are
/// stored in one transaction; audit `access.approve`.
pub(crate) async fn approve(
    state: &AppState,
    caller: &Caller,
    vault: &Vault,
    (user, role): (UserId, VaultRole),
    id: AccessRequestId,
    grants: &[NewGrant],
    statement: Option<&[u8]>,
) -> ApiResult<()> {
    let r = visible_request(state, caller, id).await?;
    if r.vault_id != vault.id || r.user_id != user || r.role != role {
        return Err(ServerError::BadRequest(
            "request_id: the access request is for another vault, user or role".into(),
        ));
    }
    let event = event_for(caller, "access.approve", vault).details(serde_json::json!({
        "request": id, "user": user, "role": role.as_str(), "team": r.team_id,
        "grants": grants.len(),
    }));
    match state
        .main
        .approve_access_request(id, grants, statement, caller.user_id, Some(&event))
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict(m)) => Err(ServerError::Conflict(m)),
        Err(StoreError::Invalid(m)) => Err(ServerError::BadRequest(m)),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("access request")),
        Err(e) => Err(e.into()),
    }
}
