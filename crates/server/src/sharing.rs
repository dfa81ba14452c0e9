//! Sharing local vaults (docs/protocol.md §18): the member list, sharing with a user (role and
//! grants in one transaction), unsharing, adding grants (replication), the list of pending
//! replications, and key rotation.
//!
//! The server is a broker: it checks that every grant names this vault and an epoch it has, is
//! sealed to the registered key of the recipient it names, that the recipient is a member (or
//! a trusted device of one) and that a device of the caller signed it. It cannot check more
//! and does not need to: clients open only grants whose signer chains to an identity they
//! trust, and seal only to identities that chain to an attested one (§18.1).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use coffer_crypto::grant::Grant;
use coffer_crypto::identity::PublicKeys;
use coffer_crypto::statement::RoleStatement;
use coffer_proto::api::B64;
use coffer_proto::vault::{
    AckGrantsRequest, AckGrantsResponse, AddGrantsRequest, GrantRecipient, PendingReplication,
    RotateVaultRequest, RotateVaultResponse, ShareVaultRequest, VaultGrant, VaultMemberInfo,
    VaultRole,
};
use coffer_proto::{DeviceState, UserId, VaultId};
use coffer_store::{Device, NewGrant, RotatedItem, StoreError, Vault, VaultRotation};

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::session::Caller;
use crate::state::AppState;
use crate::vaults::{
    drop_value, parse_manifest, parse_sealed, signer_device, trusted_device, vault_role,
};

/// Largest rotation request body (256 MiB: every item of a large vault, re-sealed).
pub const ROTATE_MAX_BODY: usize = 256 * 1024 * 1024;
/// Most items one rotation request may carry.
pub const ROTATE_MAX_ITEMS: usize = 100_000;

pub(crate) fn event_for(caller: &Caller, action: &str, vault: &Vault) -> coffer_store::AuditEvent {
    let e = caller.event(action, vault.id.to_string());
    match vault.workspace_id {
        Some(ws) => e.workspace(ws),
        None => e,
    }
}

/// Checks a role statement (protocol.md §18.6) sent by the caller: it parses, names this
/// vault, `member`, `member_keys` (their registered identity) and `role`, and the caller's
/// registered identity signed it. Returns its bytes, to store with the membership.
pub(crate) async fn check_role_statement(
    state: &AppState,
    caller: &Caller,
    bytes: &[u8],
    vault: VaultId,
    member: UserId,
    role: VaultRole,
) -> ApiResult<Vec<u8>> {
    let bad = |why: &str| ServerError::BadRequest(format!("role statement: {why}"));
    let st = RoleStatement::from_bytes(bytes).map_err(|_| bad("malformed"))?;
    let me = state.main.user(caller.user_id).await?;
    let mine = PublicKeys::from_bytes(&me.credentials.identity_public_keys)
        .map_err(ServerError::internal)?;
    st.verify(&mine)
        .map_err(|_| bad("not signed by your identity key"))?;
    if st.issuer_user() != caller.user_id.as_uuid().as_bytes() {
        return Err(bad("names another issuing user"));
    }
    if st.vault() != vault.as_uuid().as_bytes() || st.member() != member.as_uuid().as_bytes() {
        return Err(bad("names another vault or member"));
    }
    if st.role() != role.code() {
        return Err(bad("names another role than the one requested"));
    }
    let keys = if member == caller.user_id {
        me.credentials.identity_public_keys
    } else {
        state
            .main
            .user(member)
            .await?
            .credentials
            .identity_public_keys
    };
    if st.identity().to_bytes().as_slice() != keys.as_slice() {
        return Err(bad("names other keys than the member's identity"));
    }
    Ok(bytes.to_vec())
}

pub(crate) async fn require_manager(
    state: &AppState,
    caller: &Caller,
    vault: VaultId,
) -> ApiResult<()> {
    if vault_role(state, caller, vault).await? != VaultRole::Manager {
        return Err(ServerError::Forbidden(
            "only a manager of the vault may do this",
        ));
    }
    Ok(())
}

/// `GET /v1/vaults/{id}/members`: the vault's members and roles (any member).
#[utoipa::path(get, path = "/v1/vaults/{id}/members", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id")),
    responses((status = 200, body = Vec<VaultMemberInfo>),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
) -> ApiResult<Json<Vec<VaultMemberInfo>>> {
    trusted_device(&state, &caller).await?;
    vault_role(&state, &caller, id).await?;
    let all = state.main.vault_members(id).await?;
    Ok(Json(
        all.into_iter()
            .map(|m| VaultMemberInfo {
                user_id: m.user_id,
                email: m.email,
                role: m.role,
                added_at: m.added_at,
                statement: m.role_statement.map(B64),
            })
            .collect(),
    ))
}

/// `PUT /v1/vaults/{id}/members/{user_id}`: shares a workspace vault with a member of its
/// workspace (or changes their role), storing the grants to them in the same transaction
/// (managers only). With `request_id`, the share approves that pending access request
/// (protocol.md §18.5): membership and decision are recorded in one transaction.
#[utoipa::path(put, path = "/v1/vaults/{id}/members/{user_id}", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id"),
           ("user_id" = UserId, Path, description = "the user to share with")),
    request_body = ShareVaultRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(VaultId, UserId)>,
    Json(req): Json<ShareVaultRequest>,
) -> ApiResult<StatusCode> {
    let device = trusted_device(&state, &caller).await?;
    require_manager(&state, &caller, id).await?;
    let vault = state.main.vault(id).await?;
    recipient_workspace(
        &state,
        &vault,
        user,
        "a personal vault cannot be shared: create the vault in a workspace",
    )
    .await?;
    let grants = check_grants(&state, &caller, &device, &vault, &req.grants, Some(user)).await?;
    let statement = match &req.statement {
        Some(s) => Some(check_role_statement(&state, &caller, &s.0, id, user, req.role).await?),
        None => None,
    };
    if let Some(request) = req.request_id {
        return crate::teams::approve(
            &state,
            &caller,
            &vault,
            (user, req.role),
            request,
            &grants,
            statement.as_deref(),
        )
        .await
        .map(|()| StatusCode::NO_CONTENT);
    }
    let event = event_for(&caller, "vault.share", &vault).details(serde_json::json!({
        "user": user, "role": req.role.as_str(), "grants": grants.len(),
    }));
    match state
        .main
        .share_vault(
            id,
            user,
            req.role,
            statement.as_deref(),
            &grants,
            Some(&event),
        )
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::Conflict(m)) => Err(ServerError::Conflict(m)),
        Err(StoreError::Invalid(m)) => Err(ServerError::BadRequest(m)),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/vaults/{id}/members/{user_id}`: removes a member and every grant to them or
/// their devices, and flags the vault for rotation (managers; or any member removing
/// themselves).
#[utoipa::path(delete, path = "/v1/vaults/{id}/members/{user_id}", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id"),
           ("user_id" = UserId, Path, description = "the member to remove")),
    responses((status = 204), (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn unshare(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(VaultId, UserId)>,
) -> ApiResult<StatusCode> {
    trusted_device(&state, &caller).await?;
    if user != caller.user_id {
        require_manager(&state, &caller, id).await?;
    } else {
        vault_role(&state, &caller, id).await?;
    }
    let vault = state.main.vault(id).await?;
    let event =
        event_for(&caller, "vault.unshare", &vault).details(serde_json::json!({ "user": user }));
    match state.main.unshare_vault(id, user, Some(&event)).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("vault member")),
        Err(StoreError::Conflict(m)) => Err(ServerError::Conflict(m)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/vaults/{id}/grants`: grants of existing epochs to members or their trusted
/// devices (replication; any member whose device holds the key).
#[utoipa::path(post, path = "/v1/vaults/{id}/grants", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id")),
    request_body = AddGrantsRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn add_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
    Json(req): Json<AddGrantsRequest>,
) -> ApiResult<StatusCode> {
    let device = trusted_device(&state, &caller).await?;
    vault_role(&state, &caller, id).await?;
    let vault = state.main.vault(id).await?;
    let grants = check_grants(&state, &caller, &device, &vault, &req.grants, None).await?;
    let event = event_for(&caller, "vault.grant", &vault)
        .details(serde_json::json!({ "grants": grants.len() }));
    match state.main.add_vault_grants(id, &grants, Some(&event)).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::Invalid(m)) => Err(ServerError::BadRequest(m)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/replications`: for every vault of the caller, the members' identities and trusted
/// devices that have no grant of its current key (DESIGN §3, "Replication").
#[utoipa::path(get, path = "/v1/replications", tag = "sharing",
    responses((status = 200, body = Vec<PendingReplication>),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn replications(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PendingReplication>>> {
    trusted_device(&state, &caller).await?;
    let found = state.main.pending_replications(caller.user_id).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|p| PendingReplication {
                vault_id: p.vault_id,
                workspace_id: p.workspace_id,
                epoch: p.epoch,
                user_id: p.user_id,
                device_id: p.device_id,
                certificate: p.certificate.map(B64),
            })
            .collect(),
    ))
}

/// `POST /v1/vaults/{id}/rotate`: moves a vault to a new key epoch with every live item
/// re-sealed and the new key granted to the remaining members (managers only).
#[utoipa::path(post, path = "/v1/vaults/{id}/rotate", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id")),
    request_body = RotateVaultRequest,
    responses((status = 200, body = RotateVaultResponse),
              (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
    Json(req): Json<RotateVaultRequest>,
) -> ApiResult<Json<RotateVaultResponse>> {
    let device = trusted_device(&state, &caller).await?;
    require_manager(&state, &caller, id).await?;
    let vault = state.main.vault(id).await?;
    if req.items.len() > ROTATE_MAX_ITEMS {
        return Err(ServerError::BadRequest(format!(
            "items: at most {ROTATE_MAX_ITEMS} per rotation"
        )));
    }
    let h = parse_manifest(&req.manifest.0, id, vault.workspace_id)?;
    if req.base_counter.checked_add(1) != Some(h.counter) {
        return Err(ServerError::BadRequest(
            "manifest: its counter must be base_counter + 1".into(),
        ));
    }
    if h.epoch != req.epoch {
        return Err(ServerError::BadRequest(
            "manifest: its epoch must be the new epoch".into(),
        ));
    }
    for (i, it) in req.items.iter().enumerate() {
        parse_sealed(&format!("items[{i}].sealed"), &it.sealed.0)?;
    }
    // Grants are checked against the new epoch, which the vault does not have yet.
    let mut next = vault.clone();
    next.epoch = req.epoch;
    let grants = check_grants(&state, &caller, &device, &next, &req.grants, None).await?;
    let manifest_signer = signer_device(&state, &caller, &device, &h.signer).await?;
    let sealed: Vec<&[u8]> = req.items.iter().map(|it| it.sealed.0.as_slice()).collect();
    let stored = state.put_sealed_many(&sealed).await?;
    let items = req
        .items
        .iter()
        .zip(&stored)
        .map(|(it, p)| RotatedItem {
            item: it.item_id,
            base_revision: it.base_revision,
            value: *p,
        })
        .collect();
    let r = VaultRotation {
        vault: id,
        base_counter: req.base_counter,
        epoch: req.epoch,
        manifest: req.manifest.0.clone(),
        manifest_signer,
        grants,
        items,
    };
    let event = event_for(&caller, "vault.rotate", &vault).details(serde_json::json!({
        "epoch": req.epoch, "items": req.items.len(),
    }));
    match state.main.rotate_vault(&r, Some(&event)).await {
        Ok(counter) => Ok(Json(RotateVaultResponse {
            counter,
            epoch: req.epoch,
        })),
        Err(e) => {
            for p in stored {
                drop_value(&state, p).await;
            }
            Err(match e {
                StoreError::Conflict(m) => ServerError::Conflict(m),
                StoreError::Invalid(m) => ServerError::BadRequest(m),
                StoreError::NotFound => ServerError::NotFound("vault"),
                other => other.into(),
            })
        }
    }
}

/// Checks grants of `vault`'s keys: each names this vault and an epoch it has (or, for a
/// rotation, the new one), is sealed to the registered key of its recipient, the recipient is
/// a member of the vault (or `newcomer`), or a trusted device of one, and the signer is a
/// device of the caller.
/// The workspace of `vault`, when `user` is one of its members: whom a workspace vault (or one
/// of its items) may be shared with. `400` with `personal` for a personal vault, and for a user
/// outside the workspace.
pub(crate) async fn recipient_workspace(
    state: &AppState,
    vault: &Vault,
    user: UserId,
    personal: &str,
) -> ApiResult<coffer_proto::WorkspaceId> {
    let Some(ws) = vault.workspace_id else {
        return Err(ServerError::BadRequest(personal.into()));
    };
    match state.main.member(ws, user).await {
        Ok(_) => Ok(ws),
        Err(StoreError::NotFound) => Err(ServerError::BadRequest(
            "the user is not a member of the vault's workspace".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Most grants one acknowledgement may name.
pub const ACK_MAX: usize = 10_000;

/// `POST /v1/grants/ack`: the calling device acknowledges grants addressed to it (it holds
/// those keys); they are emptied after the retention window (protocol.md §18.3a).
#[utoipa::path(post, path = "/v1/grants/ack", tag = "sharing",
    request_body = AckGrantsRequest,
    responses((status = 200, body = AckGrantsResponse),
              (status = 400, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<AckGrantsRequest>,
) -> ApiResult<Json<AckGrantsResponse>> {
    trusted_device(&state, &caller).await?;
    if req.grants.len() > ACK_MAX {
        return Err(ServerError::BadRequest(format!(
            "grants: at most {ACK_MAX} per acknowledgement"
        )));
    }
    let pairs: Vec<(VaultId, u32)> = req.grants.iter().map(|g| (g.vault_id, g.epoch)).collect();
    let acknowledged = state
        .main
        .ack_device_grants(caller.device_id, &pairs)
        .await?;
    Ok(Json(AckGrantsResponse { acknowledged }))
}

pub(crate) async fn check_grants(
    state: &AppState,
    caller: &Caller,
    device: &Device,
    vault: &Vault,
    grants: &[VaultGrant],
    newcomer: Option<UserId>,
) -> ApiResult<Vec<NewGrant>> {
    let mut members: BTreeSet<UserId> = state
        .main
        .vault_members(vault.id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    members.extend(newcomer);
    check_grants_to(state, caller, device, vault, grants, &members, None).await
}

/// The checks of [`check_grants`] against an explicit recipient set: each grant names this
/// vault, `item` (for an item grant; none for a vault-key grant) and its epoch, is sealed to
/// the registered key of one of `recipients` or of a trusted device of one, and was signed by
/// a device of the caller.
pub(crate) async fn check_grants_to(
    state: &AppState,
    caller: &Caller,
    device: &Device,
    vault: &Vault,
    grants: &[VaultGrant],
    members: &BTreeSet<UserId>,
    item: Option<[u8; 16]>,
) -> ApiResult<Vec<NewGrant>> {
    let vault_bytes = *vault.id.as_uuid().as_bytes();
    let mut out = Vec::with_capacity(grants.len());
    let mut seen = std::collections::HashSet::new();
    for (i, g) in grants.iter().enumerate() {
        let bad = |m: &str| ServerError::BadRequest(format!("grants[{i}]: {m}"));
        if !seen.insert((g.recipient, g.epoch)) {
            return Err(bad("a second grant to the same recipient and epoch"));
        }
        let parsed =
            Grant::from_bytes(&g.grant.0).map_err(|e| bad(&format!("not a grant: {e}")))?;
        let ctx = parsed.context();
        if ctx.vault() != Some(&vault_bytes) || ctx.epoch() != g.epoch {
            return Err(bad("the grant is for another vault or epoch"));
        }
        if ctx.item() != item.as_ref() {
            return Err(bad("the grant is for another item"));
        }
        if g.epoch == 0 || g.epoch > vault.epoch {
            return Err(bad("no such epoch in this vault"));
        }
        let expected = match g.recipient {
            GrantRecipient::Device(d) => match state.main.device(d).await {
                Ok(t) if members.contains(&t.user_id) && t.state == DeviceState::Trusted => {
                    encryption_key(&t.public_keys)?
                }
                Ok(_) | Err(StoreError::NotFound) => {
                    return Err(bad(
                        "the recipient is not a trusted device of a member of this vault",
                    ));
                }
                Err(e) => return Err(e.into()),
            },
            GrantRecipient::User(u) => {
                if !members.contains(&u) {
                    return Err(bad("the recipient is not a recipient of this share"));
                }
                let user = state.main.user(u).await?;
                encryption_key(&user.credentials.identity_public_keys)?
            }
        };
        if *parsed.recipient() != expected {
            return Err(bad("sealed to another key than the recipient's"));
        }
        let signer_key = *parsed.signer();
        let Some(signer) = signer_device(state, caller, device, &signer_key).await? else {
            return Err(bad("not signed by one of your devices"));
        };
        out.push(NewGrant {
            recipient: g.recipient,
            epoch: g.epoch,
            grant: g.grant.0.clone(),
            signer_key,
            signer_device: Some(signer),
        });
    }
    Ok(out)
}

fn encryption_key(bytes: &[u8]) -> ApiResult<[u8; 32]> {
    PublicKeys::from_bytes(bytes)
        .map(|k| *k.encryption())
        .map_err(ServerError::internal)
}
