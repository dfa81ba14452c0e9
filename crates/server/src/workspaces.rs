//! Workspaces, members, invites and the workspace policy (DESIGN §1; `docs/api.md`, "Roles and
//! the policy"). Every handler finds the caller's membership, applies the workspace's
//! `mfa_required` policy (a member without MFA gets `403 mfa_required`), then asks
//! [`policy::authorize`] before acting. The store refuses, in the same transaction, any change
//! that would leave a workspace without an owner (`409 conflict`).

use axum::extract::State;
use axum::http::StatusCode;
use coffer_crypto::attest::Attestation;
use coffer_crypto::identity::PublicKeys;
use coffer_crypto::statement::PolicyStatement;
use coffer_proto::api::{
    AdminRecovery, AttestRequest, B64, CreateWorkspaceRequest, InviteCreated, InviteInfo,
    InviteRequest, MemberInfo, PasswordResetCreated, SetRoleRequest, WorkspaceCreated,
    WorkspaceInfo, WorkspacePolicy,
};
use coffer_proto::{InviteId, ResetId, Role, UserId, WorkspaceId};
use coffer_store::{Member, NewInvite, NewPasswordReset, NewWorkspace, StoreError};

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::policy::{self, Action};
use crate::session::Caller;
use crate::state::AppState;

/// Longest workspace name accepted.
const MAX_NAME_LEN: usize = 128;

/// Finds the caller's membership (`404` for a workspace they are not in) and applies the
/// workspace's MFA policy.
pub(crate) async fn membership(
    state: &AppState,
    caller: &Caller,
    ws: WorkspaceId,
) -> ApiResult<Member> {
    let member = match state.main.member(ws, caller.user_id).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("workspace")),
        Err(e) => return Err(e.into()),
    };
    let workspace = state.main.workspace(ws).await?;
    let user = state.main.user(caller.user_id).await?;
    if workspace.mfa_required && !user.mfa.enabled {
        return Err(ServerError::MfaRequired(
            "this workspace requires MFA: enable it first (POST /v1/mfa/enroll)",
        ));
    }
    Ok(member)
}

fn authorize(role: Role, action: Action) -> ApiResult<()> {
    policy::authorize(role, action)
        .map_err(|_| ServerError::Forbidden("your role does not allow this"))
}

fn conflict_or(e: StoreError) -> ServerError {
    match e {
        StoreError::Conflict(_) => {
            ServerError::Conflict("a workspace must keep at least one owner".into())
        }
        other => other.into(),
    }
}

/// `POST /v1/workspaces`: creates a workspace; the caller is its owner.
#[utoipa::path(post, path = "/v1/workspaces", tag = "workspaces",
    request_body = CreateWorkspaceRequest,
    responses((status = 201, body = WorkspaceCreated),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateWorkspaceRequest>,
) -> ApiResult<(StatusCode, Json<WorkspaceCreated>)> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ServerError::BadRequest("name: 1 to 128 bytes".into()));
    }
    let id = WorkspaceId::new_random();
    let new = NewWorkspace {
        id,
        name: name.to_owned(),
        mfa_required: false,
    };
    let event = caller
        .event("workspace.create", id.to_string())
        .workspace(id)
        .details(serde_json::json!({ "name": name }));
    match state
        .main
        .create_workspace(&new, caller.user_id, Some(&event))
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ServerError::Conflict("workspace name already taken".into()));
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::CREATED,
        Json(WorkspaceCreated {
            workspace_id: id,
            name: name.to_owned(),
        }),
    ))
}

/// `GET /v1/workspaces`: the caller's workspaces and role in each.
#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces",
    responses((status = 200, body = Vec<WorkspaceInfo>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<WorkspaceInfo>>> {
    let all = state.main.list_workspaces_of_user(caller.user_id).await?;
    Ok(Json(
        all.into_iter()
            .map(|m| WorkspaceInfo {
                workspace_id: m.workspace.id,
                name: m.workspace.name,
                role: m.role,
            })
            .collect(),
    ))
}

/// `PUT /v1/workspaces/{ws}/policy`.
#[utoipa::path(put, path = "/v1/workspaces/{ws}/policy", tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id")),
    request_body = WorkspacePolicy,
    responses((status = 204), (status = 403, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn set_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<WorkspaceId>,
    Json(req): Json<WorkspacePolicy>,
) -> ApiResult<StatusCode> {
    let m = membership(&state, &caller, ws).await?;
    authorize(m.role, Action::SetPolicy)?;
    let statement = match &req.statement {
        Some(s) => Some(check_policy_statement(&state, &caller, ws, &req, &s.0).await?),
        None if req.admin_recovery == AdminRecovery::Auto => {
            return Err(ServerError::BadRequest(
                "admin_recovery = auto needs a signed policy statement (protocol.md §17.1)".into(),
            ));
        }
        None => None,
    };
    let event = caller
        .event("workspace.policy", ws.to_string())
        .workspace(ws)
        .details(serde_json::json!({
            "mfa_required": req.mfa_required,
            "admin_recovery": req.admin_recovery.as_str(),
            "signed": statement.is_some(),
        }));
    state
        .main
        .set_workspace_policy(ws, req.mfa_required, statement.as_deref(), Some(&event))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a policy statement (protocol.md §17.1) sent with `PUT …/policy`: it parses, names
/// this workspace and the caller, the caller's registered identity signed it, its settings are
/// the ones in clear, and its version is above the stored statement's.
async fn check_policy_statement(
    state: &AppState,
    caller: &Caller,
    ws: WorkspaceId,
    req: &WorkspacePolicy,
    bytes: &[u8],
) -> ApiResult<Vec<u8>> {
    let bad = |why: String| ServerError::BadRequest(format!("policy statement: {why}"));
    let st = PolicyStatement::from_bytes(bytes).map_err(|_| bad("malformed".into()))?;
    let me = state.main.user(caller.user_id).await?;
    let mine = PublicKeys::from_bytes(&me.credentials.identity_public_keys)
        .map_err(ServerError::internal)?;
    st.verify(&mine)
        .map_err(|_| bad("not signed by your identity key".into()))?;
    if st.signer_user() != caller.user_id.as_uuid().as_bytes() {
        return Err(bad("names another signing user".into()));
    }
    if st.workspace() != ws.as_uuid().as_bytes() {
        return Err(bad("names another workspace".into()));
    }
    let s = st.settings();
    if s.mfa_required != req.mfa_required
        || s.admin_recovery_auto != (req.admin_recovery == AdminRecovery::Auto)
    {
        return Err(bad(
            "its settings differ from the ones in the request".into()
        ));
    }
    let stored = state.main.workspace(ws).await?.signed_policy;
    let floor = stored
        .as_deref()
        .and_then(|b| PolicyStatement::from_bytes(b).ok())
        .map_or(0, |p| p.version());
    if st.version() <= floor {
        return Err(ServerError::Conflict(format!(
            "policy statement: version {} is not above the current version {floor}",
            st.version()
        )));
    }
    Ok(bytes.to_vec())
}

/// `GET /v1/workspaces/{ws}/policy`: the policy in clear and its signed statement (any member).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/policy", tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id")),
    responses((status = 200, body = WorkspacePolicy), (status = 404, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<WorkspaceId>,
) -> ApiResult<Json<WorkspacePolicy>> {
    let m = membership(&state, &caller, ws).await?;
    authorize(m.role, Action::ReadWorkspace)?;
    let w = state.main.workspace(ws).await?;
    let auto = w
        .signed_policy
        .as_deref()
        .and_then(|b| PolicyStatement::from_bytes(b).ok())
        .is_some_and(|p| p.settings().admin_recovery_auto);
    Ok(Json(WorkspacePolicy {
        mfa_required: w.mfa_required,
        admin_recovery: if auto {
            AdminRecovery::Auto
        } else {
            AdminRecovery::Manual
        },
        statement: w.signed_policy.map(B64),
    }))
}

/// `GET /v1/workspaces/{ws}/members`.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/members", tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id")),
    responses((status = 200, body = Vec<MemberInfo>)), security(("bearer" = [])))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<WorkspaceId>,
) -> ApiResult<Json<Vec<MemberInfo>>> {
    let m = membership(&state, &caller, ws).await?;
    authorize(m.role, Action::ReadWorkspace)?;
    let all = state.main.list_members(ws).await?;
    let mut out = Vec::with_capacity(all.len());
    for m in all {
        out.push(member_info(m));
    }
    Ok(Json(out))
}

/// `PUT /v1/workspaces/{ws}/members/{user_id}/attestation`: an owner or admin confirms a
/// member by storing the attestation their identity key signed over the member's identity key
/// (protocol.md §17). The server checks what it can (format, that the caller's identity signed
/// it, that it names this workspace, this member and the member's registered keys); clients
/// check it again against identities they trust.
#[utoipa::path(put, path = "/v1/workspaces/{ws}/members/{user_id}/attestation", tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id"),
           ("user_id" = UserId, Path, description = "member's user id")),
    request_body = AttestRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn attest(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, user)): Path<(WorkspaceId, UserId)>,
    Json(req): Json<AttestRequest>,
) -> ApiResult<StatusCode> {
    let m = membership(&state, &caller, ws).await?;
    authorize(m.role, Action::ConfirmMember)?;
    target_member(&state, ws, user).await?;
    let bad = |why: &str| ServerError::BadRequest(format!("attestation: {why}"));
    let a = Attestation::from_bytes(&req.attestation.0).map_err(|_| bad("malformed"))?;
    let me = state.main.user(caller.user_id).await?;
    let mine = PublicKeys::from_bytes(&me.credentials.identity_public_keys)
        .map_err(ServerError::internal)?;
    a.verify(&mine)
        .map_err(|_| bad("not signed by your identity key"))?;
    if a.attester_user() != caller.user_id.as_uuid().as_bytes() {
        return Err(bad("names another attesting user"));
    }
    if a.workspace() != ws.as_uuid().as_bytes() || a.user() != user.as_uuid().as_bytes() {
        return Err(bad("names another workspace or member"));
    }
    let member = state.main.user(user).await?;
    if a.identity().to_bytes().as_slice() != member.credentials.identity_public_keys.as_slice() {
        return Err(bad("attests other keys than the member's identity"));
    }
    let event = caller
        .event("workspace.member_confirm", user.to_string())
        .workspace(ws);
    state
        .main
        .set_attestation(ws, user, a.as_bytes(), Some(&event))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn target_member(state: &AppState, ws: WorkspaceId, user: UserId) -> ApiResult<Member> {
    match state.main.member(ws, user).await {
        Ok(m) => Ok(m),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("member")),
        Err(e) => Err(e.into()),
    }
}

/// How long an admin's password-reset token works.
const RESET_TTL_SECS: i64 = 24 * 3600;

/// `POST /v1/workspaces/{ws}/members/{user_id}/password-reset`: issues a one-time reset token
/// for a member (protocol.md §20), replacing their unused ones. An owner resets admins and
/// below, an admin developers and below; nobody resets themself or anyone who owns a
/// workspace (an owner is the root other members pin).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/members/{user_id}/password-reset",
    tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id"),
           ("user_id" = UserId, Path, description = "member's user id")),
    responses((status = 201, body = PasswordResetCreated),
              (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn password_reset(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, user)): Path<(WorkspaceId, UserId)>,
) -> ApiResult<(StatusCode, Json<PasswordResetCreated>)> {
    let m = membership(&state, &caller, ws).await?;
    if user == caller.user_id {
        return Err(ServerError::Conflict(
            "you cannot reset your own password: ask another admin".into(),
        ));
    }
    let target = target_member(&state, ws, user).await?;
    authorize(
        m.role,
        Action::ResetPassword {
            target: target.role,
        },
    )?;
    let owns = state
        .main
        .list_workspaces_of_user(user)
        .await?
        .iter()
        .any(|w| w.role == Role::Owner);
    if owns {
        return Err(ServerError::Conflict(
            "this member owns a workspace: an owner's identity is the root others pin and \
             cannot be reset"
                .into(),
        ));
    }
    let (token, token_hash) = crate::session::new_token()?;
    let new = NewPasswordReset {
        id: ResetId::new_random(),
        user_id: user,
        workspace_id: ws,
        token_hash,
        created_by: caller.user_id,
        expires_at: crate::session::now().saturating_add(RESET_TTL_SECS),
    };
    let event = caller
        .event("workspace.password_reset_issued", user.to_string())
        .workspace(ws)
        .details(serde_json::json!({
            "reset_id": new.id.to_string(),
            "expires_at": new.expires_at,
        }));
    let reset = state.main.create_password_reset(&new, Some(&event)).await?;
    Ok((
        StatusCode::CREATED,
        Json(PasswordResetCreated {
            reset_id: reset.id,
            token,
            expires_at: reset.expires_at,
        }),
    ))
}

/// `PUT /v1/workspaces/{ws}/members/{user_id}`: changes a member's role.
#[utoipa::path(put, path = "/v1/workspaces/{ws}/members/{user_id}", tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id"),
           ("user_id" = UserId, Path, description = "member's user id")),
    request_body = SetRoleRequest,
    responses((status = 204), (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, user)): Path<(WorkspaceId, UserId)>,
    Json(req): Json<SetRoleRequest>,
) -> ApiResult<StatusCode> {
    let m = membership(&state, &caller, ws).await?;
    let target = target_member(&state, ws, user).await?;
    authorize(
        m.role,
        Action::ChangeRole {
            from: target.role,
            to: req.role,
        },
    )?;
    let event = caller
        .event("workspace.member_role", user.to_string())
        .workspace(ws)
        .details(serde_json::json!({ "from": target.role.as_str(), "to": req.role.as_str() }));
    state
        .main
        .set_member_role(ws, user, req.role, Some(&event))
        .await
        .map_err(conflict_or)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/workspaces/{ws}/members/{user_id}`: removes a member, or leaves when the
/// caller removes themself.
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/members/{user_id}", tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id"),
           ("user_id" = UserId, Path, description = "member's user id")),
    responses((status = 204), (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((ws, user)): Path<(WorkspaceId, UserId)>,
) -> ApiResult<StatusCode> {
    let m = membership(&state, &caller, ws).await?;
    let (action, name) = if user == caller.user_id {
        (Action::Leave, "workspace.member_leave")
    } else {
        let target = target_member(&state, ws, user).await?;
        (
            Action::RemoveMember {
                target: target.role,
            },
            "workspace.member_remove",
        )
    };
    authorize(m.role, action)?;
    let event = caller.event(name, user.to_string()).workspace(ws);
    state
        .main
        .remove_member(ws, user, Some(&event))
        .await
        .map_err(conflict_or)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/workspaces/{ws}/invites`.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/invites", tag = "workspaces",
    params(("ws" = WorkspaceId, Path, description = "workspace id")),
    request_body = InviteRequest,
    responses((status = 201, body = InviteCreated), (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<WorkspaceId>,
    Json(req): Json<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InviteCreated>)> {
    let m = membership(&state, &caller, ws).await?;
    authorize(m.role, Action::Invite { role: req.role })?;
    let email = coffer_crypto::opaque::UserId::from_email(&req.email)
        .map_err(|_| ServerError::BadRequest("email: not a valid address".into()))?;
    let id = InviteId::new_random();
    let new = NewInvite {
        id,
        workspace_id: ws,
        email: email.as_str().to_owned(),
        role: req.role,
        invited_by: Some(caller.user_id),
    };
    let event = caller
        .event("workspace.invite", id.to_string())
        .workspace(ws)
        .details(serde_json::json!({ "email": email.as_str(), "role": req.role.as_str() }));
    match state.main.create_invite(&new, Some(&event)).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ServerError::Conflict(
                "this email already has a pending invite".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::CREATED, Json(InviteCreated { invite_id: id })))
}

/// `GET /v1/invites`: pending invites addressed to the caller's email.
#[utoipa::path(get, path = "/v1/invites", tag = "workspaces",
    responses((status = 200, body = Vec<InviteInfo>)), security(("bearer" = [])))]
pub async fn my_invites(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<InviteInfo>>> {
    let user = state.main.user(caller.user_id).await?;
    let invites = state.main.pending_invites_for_email(&user.email).await?;
    let mut out = Vec::with_capacity(invites.len());
    for i in invites {
        let ws = state.main.workspace(i.workspace_id).await?;
        let invited_by = match i.invited_by {
            Some(u) => match state.main.user(u).await {
                Ok(u) => u.email,
                Err(StoreError::NotFound) => String::new(),
                Err(e) => return Err(e.into()),
            },
            None => String::new(),
        };
        out.push(InviteInfo {
            invite_id: i.id,
            workspace_id: i.workspace_id,
            workspace_name: ws.name,
            role: i.role,
            invited_by,
        });
    }
    Ok(Json(out))
}

/// `POST /v1/invites/{id}/accept`: the caller joins with the invited role.
#[utoipa::path(post, path = "/v1/invites/{id}/accept", tag = "workspaces",
    params(("id" = InviteId, Path, description = "invite id")),
    responses((status = 204), (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<InviteId>,
) -> ApiResult<StatusCode> {
    let user = state.main.user(caller.user_id).await?;
    let inv = match state.main.invite(id).await {
        Ok(i) if i.email.eq_ignore_ascii_case(&user.email) => i,
        Ok(_) | Err(StoreError::NotFound) => return Err(ServerError::NotFound("invite")),
        Err(e) => return Err(e.into()),
    };
    let event = caller
        .event("workspace.invite_accept", id.to_string())
        .workspace(inv.workspace_id)
        .details(serde_json::json!({ "role": inv.role.as_str() }));
    match state
        .main
        .accept_invite(id, caller.user_id, Some(&event))
        .await
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::Conflict(_)) => Err(ServerError::Conflict(
            "invite no longer pending, or already a member".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A member as served to clients.
pub(crate) fn member_info(m: Member) -> MemberInfo {
    MemberInfo {
        user_id: m.user_id,
        email: m.email,
        role: m.role,
        joined_at: m.joined_at,
        identity_public_keys: Some(B64(m.identity_public_keys)),
        attestation: m.attestation.map(B64),
    }
}
