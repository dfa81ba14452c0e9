//! Devices of the caller: list, revoke (state revoked and every session of the device revoked
//! in the same transaction), and the release of a device's **server share** after a
//! challenge–response: `POST /v1/devices/{id}/challenge` gives 32 random bytes (60 s, single
//! use, bound to the asking session); `POST /v1/devices/{id}/share` returns the share only to a
//! session of that same device that signed `"coffer.device-share.v1" ‖ challenge ‖ device_id
//! (16 bytes)` with the **user's identity key** (domain-separated signature, label
//! `device-share`; protocol.md §8.3, §14.1): the identity key opens only after a password login,
//! so a stolen session token alone cannot fetch the share.
//!
//! `POST /v1/devices/{id}/certificate` stores the certificate a user's identity key issued for a
//! pending device of that user, which becomes trusted (protocol.md §14.4): sent by a **trusted
//! device of the same user** (the approval, after both sides compared the short code), with the
//! vault-key grants it issues to the new device, all in one transaction; or by the pending
//! device itself only while its user has no trusted device (the first device, or after every
//! device was revoked), or by the pending device itself with a **recovery proof** (protocol.md
//! §19.2) that verifies under a recovery key of its user, then with grants it issues to itself
//! (audit `device.recover`), or by the pending device itself after an **owner or admin**
//! endorsed it (`POST /v1/devices/{id}/endorsement`, protocol.md §14.6). Every certification
//! carries the `add` link of the user's device chain and every revocation of a device the chain
//! trusts its `revoke` link (`POST /v1/devices/{id}/revoke`); the store appends the link in the
//! transaction of the state change after checking it extends the chain (§14.5).
//! `GET /v1/users/{id}/devices` lists a user's devices with their keys and certificates, and
//! `GET /v1/users/{id}/chain` their device chain and endorsements (own user, or a member of a
//! workspace the caller is in).

use axum::extract::State;
use axum::http::StatusCode;
use coffer_crypto::chain::DeviceCertificate;
use coffer_crypto::identity::{PublicKeys, SIGNATURE_LEN};
use coffer_proto::api::{
    B64, DEVICE_SHARE_LABEL, DEVICE_SHARE_PREFIX, DeviceChallenge, DeviceInfo, DeviceShareRequest,
    DeviceShareResponse,
};
use coffer_proto::vault::{
    ApprovalNonce, CertifyDeviceRequest, DeviceEndorsementInfo, EndorseDeviceRequest,
    RevokeDeviceRequest, UserChain, UserDevice,
};
use coffer_proto::{DeviceId, DeviceState, Role, UserId, WorkspaceId};
use coffer_store::{Device, DeviceEndorsementRow, StoreError, ValuePointer};

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::session::Caller;
use crate::state::AppState;

/// The exact bytes a device signs to receive its share.
pub fn share_message(challenge: &[u8; 32], device: DeviceId) -> Vec<u8> {
    let mut m = Vec::with_capacity(DEVICE_SHARE_PREFIX.len() + 32 + 16);
    m.extend_from_slice(DEVICE_SHARE_PREFIX);
    m.extend_from_slice(challenge);
    m.extend_from_slice(device.as_uuid().as_bytes());
    m
}

/// The caller's own device `id`, or `403`: shares go only to the session's device.
async fn own_device(state: &AppState, caller: &Caller, id: DeviceId) -> ApiResult<Device> {
    if id != caller.device_id {
        return Err(ServerError::Forbidden(
            "the server share goes only to a session of that device",
        ));
    }
    Ok(state.main.device(id).await?)
}

/// `GET /v1/devices`: the caller's devices.
#[utoipa::path(get, path = "/v1/devices", tag = "devices",
    responses((status = 200, body = Vec<DeviceInfo>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<DeviceInfo>>> {
    let devices = state.main.list_devices(caller.user_id).await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceInfo {
                current: d.id == caller.device_id,
                device_id: d.id,
                name: d.name,
                state: d.state,
                created_at: d.created_at,
                last_seen_at: d.last_seen_at,
            })
            .collect(),
    ))
}

/// `POST /v1/devices/{id}/challenge`: a fresh challenge for the session's own device.
#[utoipa::path(post, path = "/v1/devices/{id}/challenge", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    responses((status = 200, body = DeviceChallenge),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn challenge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
) -> ApiResult<Json<DeviceChallenge>> {
    own_device(&state, &caller, id).await?;
    let c: [u8; 32] = coffer_crypto::secret::random_array().map_err(ServerError::internal)?;
    if !state.challenges.insert((id, c), caller.session.id) {
        return Err(ServerError::RateLimited { retry_after: 60 });
    }
    Ok(Json(DeviceChallenge {
        challenge: B64(c.to_vec()),
    }))
}

/// `POST /v1/devices/{id}/share`: the device's server share, after a valid signature over a
/// live challenge.
#[utoipa::path(post, path = "/v1/devices/{id}/share", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    request_body = DeviceShareRequest,
    responses((status = 200, body = DeviceShareResponse),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
    Json(req): Json<DeviceShareRequest>,
) -> ApiResult<Json<DeviceShareResponse>> {
    let device = own_device(&state, &caller, id).await?;
    let challenge: [u8; 32] = req
        .challenge
        .0
        .as_slice()
        .try_into()
        .map_err(|_| ServerError::BadRequest("challenge: 32 bytes expected".into()))?;
    let signature: [u8; SIGNATURE_LEN] = req
        .signature
        .0
        .as_slice()
        .try_into()
        .map_err(|_| ServerError::BadRequest("signature: 64 bytes expected".into()))?;
    let denied = |reason: &'static str| {
        let event = caller
            .event("device.share_denied", id.to_string())
            .details(serde_json::json!({ "reason": reason }));
        let main = state.main.clone();
        async move {
            if let Err(e) = main.append_audit(&event).await {
                tracing::error!(error = %e, "audit of a refused share");
            }
            ServerError::Forbidden("invalid, expired or already used challenge, or bad signature")
        }
    };
    match state.challenges.take(&(id, challenge)) {
        Some(session) if session == caller.session.id => {}
        _ => return Err(denied("challenge").await),
    }
    let user = state.main.user(caller.user_id).await?;
    let keys = PublicKeys::from_bytes(&user.credentials.identity_public_keys)
        .map_err(ServerError::internal)?;
    if keys
        .verify(
            DEVICE_SHARE_LABEL,
            &share_message(&challenge, id),
            &signature,
        )
        .is_err()
    {
        return Err(denied("signature").await);
    }
    let pointer: [u8; 32] = device
        .server_share
        .as_slice()
        .try_into()
        .map_err(|_| ServerError::internal("stored share pointer has the wrong length"))?;
    let share = state.open_sealed(ValuePointer::from_bytes(pointer)).await?;
    let event = caller.event("device.share_released", id.to_string());
    state.main.append_audit(&event).await?;
    Ok(Json(DeviceShareResponse {
        share: B64(share.expose_secret().to_vec()),
    }))
}

/// Device `id` of the caller's user, or `403 forbidden` with `refusal` (for another user's
/// device and for an unknown id alike, so ids cannot be probed).
async fn user_device(
    state: &AppState,
    caller: &Caller,
    id: DeviceId,
    refusal: &'static str,
) -> ApiResult<Device> {
    match state.main.device(id).await {
        Ok(d) if d.user_id == caller.user_id => Ok(d),
        Ok(_) | Err(StoreError::NotFound) => Err(ServerError::Forbidden(refusal)),
        Err(e) => Err(e.into()),
    }
}

/// A workspace in which the caller is an owner or admin and `user` is a member (the first
/// one found), if any: where the caller may approve `user`'s devices (protocol.md §14.6).
pub(crate) async fn admin_workspace_over(
    state: &AppState,
    caller: UserId,
    user: UserId,
) -> ApiResult<Option<WorkspaceId>> {
    for m in state.main.list_workspaces_of_user(caller).await? {
        if !matches!(m.role, Role::Owner | Role::Admin) {
            continue;
        }
        match state.main.member(m.workspace.id, user).await {
            Ok(_) => return Ok(Some(m.workspace.id)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Device `id` if the caller may approve it: a device of their own user, or of a member of a
/// workspace where the caller is an owner or admin; `403` otherwise (unknown ids alike).
async fn approvable_device(state: &AppState, caller: &Caller, id: DeviceId) -> ApiResult<Device> {
    const REFUSAL: &str = "only a device of your own user, or of a member of a workspace you \
                           own or administer, can be approved";
    match state.main.device(id).await {
        Ok(d) if d.user_id == caller.user_id => Ok(d),
        Ok(d) => match admin_workspace_over(state, caller.user_id, d.user_id).await? {
            Some(_) => Ok(d),
            None => Err(ServerError::Forbidden(REFUSAL)),
        },
        Err(StoreError::NotFound) => Err(ServerError::Forbidden(REFUSAL)),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /v1/devices/{id}/approval`: a trusted device of the same user, or of an owner or admin
/// of a workspace the device's user is a member of, starts approving pending device `id` by
/// leaving the nonce of the approval code for it (protocol.md §14.4, §14.6; 10 minutes).
#[utoipa::path(put, path = "/v1/devices/{id}/approval", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    request_body = ApprovalNonce,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn start_approval(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
    Json(req): Json<ApprovalNonce>,
) -> ApiResult<StatusCode> {
    crate::vaults::trusted_device(&state, &caller).await?;
    let device = approvable_device(&state, &caller, id).await?;
    if device.state != DeviceState::Pending {
        return Err(ServerError::Conflict("the device is not pending".into()));
    }
    let nonce: [u8; 32] = req
        .nonce
        .0
        .as_slice()
        .try_into()
        .map_err(|_| ServerError::BadRequest("nonce: must be 32 bytes".into()))?;
    if !state.approvals.insert(id, nonce) {
        return Err(ServerError::RateLimited { retry_after: 60 });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/devices/{id}/approval`: the pending device reads the nonce its approver left.
#[utoipa::path(get, path = "/v1/devices/{id}/approval", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    responses((status = 200, body = ApprovalNonce),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn approval(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
) -> ApiResult<Json<ApprovalNonce>> {
    if id != caller.device_id {
        return Err(ServerError::Forbidden(
            "an approval nonce goes only to a session of that device",
        ));
    }
    let nonce = state
        .approvals
        .peek(&id)
        .ok_or(ServerError::NotFound("approval"))?;
    Ok(Json(ApprovalNonce {
        nonce: B64(nonce.to_vec()),
    }))
}

/// The message of the `403` answered when a pending device tries to certify itself while its
/// user has a trusted device.
pub const APPROVAL_NEEDED_MESSAGE: &str =
    "approve this device from one of your trusted devices: `coffer device approve`";

/// `POST /v1/devices/{id}/certificate`: certifies pending device `id` of the caller's user (see
/// the module documentation); the device becomes trusted and receives the grants.
#[utoipa::path(post, path = "/v1/devices/{id}/certificate", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    request_body = CertifyDeviceRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn certify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
    Json(req): Json<CertifyDeviceRequest>,
) -> ApiResult<StatusCode> {
    let device = user_device(
        &state,
        &caller,
        id,
        "only a device of your own user can be certified",
    )
    .await?;
    let mut recovered = None;
    let mut endorsed: Option<UserId> = None;
    let chain_link = req.chain_link.as_ref().ok_or_else(|| {
        ServerError::BadRequest(
            "chain_link: required: the link that adds this device to your device chain \
             (protocol.md §14.5)"
                .into(),
        )
    })?;
    let approver = if id == caller.device_id {
        let others = state.main.list_devices(caller.user_id).await?;
        let has_trusted = others
            .iter()
            .any(|d| d.id != id && d.state == DeviceState::Trusted);
        match &req.recovery_proof {
            // Recovery (protocol.md §19.2): a recovery key of this user vouches for the device,
            // which may then grant itself the vault keys it recovered.
            Some(proof) => {
                if device.state == DeviceState::Pending {
                    recovered = Some(
                        crate::recovery::verify_proof(&state, &caller, &device, &proof.0).await?,
                    );
                }
                Some(device.clone())
            }
            None => {
                if has_trusted && device.state == DeviceState::Pending {
                    // An owner or admin may have endorsed it (protocol.md §14.6).
                    match state.main.device_endorsement(id).await? {
                        Some(e) => endorsed = Some(e.endorser_id),
                        None => return Err(ServerError::Forbidden(APPROVAL_NEEDED_MESSAGE)),
                    }
                }
                if !req.grants.is_empty() {
                    return Err(ServerError::BadRequest(
                        "grants: a device cannot grant keys to itself while pending".into(),
                    ));
                }
                None
            }
        }
    } else {
        if req.recovery_proof.is_some() {
            return Err(ServerError::BadRequest(
                "recovery_proof: only the pending device itself presents a recovery proof".into(),
            ));
        }
        Some(crate::vaults::trusted_device(&state, &caller).await?)
    };
    let bad = |why: &str| ServerError::BadRequest(format!("certificate: {why}"));
    let cert = DeviceCertificate::from_bytes(&req.certificate.0).map_err(|_| bad("malformed"))?;
    let user = state.main.user(caller.user_id).await?;
    let identity = PublicKeys::from_bytes(&user.credentials.identity_public_keys)
        .map_err(ServerError::internal)?;
    cert.verify(&identity)
        .map_err(|_| bad("not signed by the user's identity key"))?;
    if cert.user_id() != caller.user_id.as_uuid().as_bytes() {
        return Err(bad("names another user"));
    }
    if cert.device_id() != id.as_uuid().as_bytes() {
        return Err(bad("names another device"));
    }
    if cert.device_keys().to_bytes().as_slice() != device.public_keys.as_slice() {
        return Err(bad("certifies other public keys than the device's"));
    }
    match device.state {
        DeviceState::Pending => {}
        DeviceState::Trusted => {
            return Err(ServerError::Conflict(
                "the device is already trusted".into(),
            ));
        }
        _ => return Err(ServerError::Forbidden("this device is revoked")),
    }
    let grants = match &approver {
        Some(a) => approval_grants(&state, &caller, a, &device, &req).await?,
        None => Vec::new(),
    };
    let event = match (recovered, &approver, endorsed) {
        (Some(r), _, _) => caller
            .event("device.recover", id.to_string())
            .details(serde_json::json!({ "recovery_id": r })),
        (None, Some(_), _) => caller.event("device.approve", id.to_string()),
        (None, None, Some(by)) => caller
            .event("device.certify", id.to_string())
            .details(serde_json::json!({ "endorsed_by": by })),
        (None, None, None) => caller.event("device.certify", id.to_string()),
    };
    state
        .main
        .approve_device_chained(id, cert.as_bytes(), &chain_link.0, &grants, Some(&event))
        .await?;
    let _ = state.approvals.take(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the grants an approving device issues to a new device: each names a vault the caller
/// is a member of, carries that vault and epoch in its context, and is sealed to the new
/// device's X25519 key. The signer is recorded; the recipient checks it against its chain.
async fn approval_grants(
    state: &AppState,
    caller: &Caller,
    approver: &Device,
    device: &Device,
    req: &CertifyDeviceRequest,
) -> ApiResult<Vec<(coffer_proto::VaultId, coffer_store::NewGrant)>> {
    use coffer_crypto::grant::Grant;
    let target = PublicKeys::from_bytes(&device.public_keys).map_err(ServerError::internal)?;
    let mut out = Vec::with_capacity(req.grants.len());
    for (i, g) in req.grants.iter().enumerate() {
        let bad = |m: &str| ServerError::BadRequest(format!("grants[{i}]: {m}"));
        crate::vaults::vault_role(state, caller, g.vault_id).await?;
        let parsed =
            Grant::from_bytes(&g.grant.0).map_err(|e| bad(&format!("not a grant: {e}")))?;
        let ctx = parsed.context();
        if ctx.vault() != Some(g.vault_id.as_uuid().as_bytes()) || ctx.epoch() != g.epoch {
            return Err(bad("the grant is for another vault or epoch"));
        }
        if parsed.recipient() != target.encryption() {
            return Err(bad("sealed to another key than the new device's"));
        }
        let signer_key = *parsed.signer();
        out.push((
            g.vault_id,
            coffer_store::NewGrant {
                recipient: coffer_proto::vault::GrantRecipient::Device(device.id),
                epoch: g.epoch,
                grant: g.grant.0.clone(),
                signer_key,
                signer_device: crate::vaults::signer_device(state, caller, approver, &signer_key)
                    .await?,
            },
        ));
    }
    Ok(out)
}

/// Whether users `a` and `b` are members of a common workspace.
async fn shares_a_workspace(state: &AppState, a: UserId, b: UserId) -> ApiResult<bool> {
    for m in state.main.list_workspaces_of_user(a).await? {
        match state.main.member(m.workspace.id, b).await {
            Ok(_) => return Ok(true),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// `GET /v1/users/{id}/devices`: a user's devices with their public keys and certificates:
/// all of the caller's own, or the trusted ones of a member of a workspace the caller is in
/// (grant targets when sharing; clients verify each certificate and the device chain
/// themselves), and also the pending ones when the caller owns or administers a workspace the
/// user is in.
#[utoipa::path(get, path = "/v1/users/{id}/devices", tag = "devices",
    params(("id" = UserId, Path, description = "user id")),
    responses((status = 200, body = Vec<UserDevice>),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn user_devices(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<Json<Vec<UserDevice>>> {
    let own = id == caller.user_id;
    if !own && !shares_a_workspace(&state, caller.user_id, id).await? {
        return Err(ServerError::Forbidden(
            "only your own devices and those of members of your workspaces can be listed",
        ));
    }
    // An owner or admin over the user also sees their pending devices (to approve them).
    let admin = !own
        && admin_workspace_over(&state, caller.user_id, id)
            .await?
            .is_some();
    let devices = state.main.list_devices(id).await?;
    Ok(Json(
        devices
            .into_iter()
            // Another user's pending or revoked devices are not grant targets.
            .filter(|d| {
                own || d.state == DeviceState::Trusted || (admin && d.state == DeviceState::Pending)
            })
            .map(|d| UserDevice {
                device_id: d.id,
                state: d.state,
                public_keys: B64(d.public_keys),
                certificate: d.certificate.map(B64),
            })
            .collect(),
    ))
}

/// `DELETE /v1/devices/{id}`: revokes one of the caller's devices that the device chain does
/// not trust (a pending one) and its sessions; a device the chain trusts needs the signed link
/// of `POST /v1/devices/{id}/revoke` (`400` here).
#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
) -> ApiResult<StatusCode> {
    revoke_with(&state, &caller, id, None).await
}

/// `POST /v1/devices/{id}/revoke`: revokes one of the caller's devices and its sessions, with
/// the link that revokes it in the user's device chain (protocol.md §14.5), stored in the same
/// transaction; the user's vaults are flagged for rotation.
#[utoipa::path(post, path = "/v1/devices/{id}/revoke", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    request_body = RevokeDeviceRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn revoke_signed(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
    Json(req): Json<RevokeDeviceRequest>,
) -> ApiResult<StatusCode> {
    revoke_with(
        &state,
        &caller,
        id,
        req.chain_link.as_ref().map(|l| l.0.as_slice()),
    )
    .await
}

async fn revoke_with(
    state: &AppState,
    caller: &Caller,
    id: DeviceId,
    link: Option<&[u8]>,
) -> ApiResult<StatusCode> {
    match state.main.device(id).await {
        Ok(d) if d.user_id == caller.user_id => {}
        Ok(_) | Err(StoreError::NotFound) => return Err(ServerError::NotFound("device")),
        Err(e) => return Err(e.into()),
    }
    let event = caller.event("device.revoke", id.to_string());
    state
        .main
        .revoke_device_chained(id, link, Some(&event))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/users/{id}/chain`: a user's device chain (every link, protocol.md §14.5) and the
/// admin endorsements of their devices (§14.6): the caller's own, or a member's of a workspace
/// the caller is in. Clients verify it themselves against the head they pinned.
#[utoipa::path(get, path = "/v1/users/{id}/chain", tag = "devices",
    params(("id" = UserId, Path, description = "user id")),
    responses((status = 200, body = UserChain),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn user_chain(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<Json<UserChain>> {
    if id != caller.user_id && !shares_a_workspace(&state, caller.user_id, id).await? {
        return Err(ServerError::Forbidden(
            "only your own device chain and those of members of your workspaces can be read",
        ));
    }
    let links = state.main.device_chain(id).await?;
    let endorsements = state.main.device_endorsements_of_user(id).await?;
    Ok(Json(UserChain {
        user_id: id,
        links: links.into_iter().map(B64).collect(),
        endorsements: endorsements
            .into_iter()
            .map(|e| DeviceEndorsementInfo {
                device_id: e.device_id,
                workspace_id: e.workspace_id,
                endorser_id: e.endorser_id,
                endorsement: B64(e.endorsement),
            })
            .collect(),
    }))
}

/// `POST /v1/devices/{id}/endorsement`: an owner or admin of a workspace approves pending device
/// `id` of one of its members (protocol.md §14.6), after comparing the approval code. The
/// endorsement must parse, verify under the caller's identity key and name the caller, this
/// workspace, the device's user and their registered identity keys, this device and its
/// registered keys; grants must be for vaults both users are members of and sealed to the
/// device. Stored in one transaction (audit `device.endorse`); the device then certifies
/// itself with its own `add` link.
#[utoipa::path(post, path = "/v1/devices/{id}/endorsement", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    request_body = EndorseDeviceRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn endorse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
    Json(req): Json<EndorseDeviceRequest>,
) -> ApiResult<StatusCode> {
    use coffer_crypto::endorse::Endorsement;
    let approver = crate::vaults::trusted_device(&state, &caller).await?;
    const REFUSAL: &str =
        "only an owner or admin of a workspace the device's user is a member of can endorse it";
    let device = match state.main.device(id).await {
        Ok(d) if d.user_id != caller.user_id => d,
        Ok(_) => {
            return Err(ServerError::Forbidden(
                "approve your own devices with `coffer device approve`, not an endorsement",
            ));
        }
        Err(StoreError::NotFound) => return Err(ServerError::Forbidden(REFUSAL)),
        Err(e) => return Err(e.into()),
    };
    let role = match state.main.member(req.workspace_id, caller.user_id).await {
        Ok(m) => m.role,
        Err(StoreError::NotFound) => return Err(ServerError::Forbidden(REFUSAL)),
        Err(e) => return Err(e.into()),
    };
    if !matches!(role, Role::Owner | Role::Admin) {
        return Err(ServerError::Forbidden(REFUSAL));
    }
    match state.main.member(req.workspace_id, device.user_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(ServerError::Forbidden(REFUSAL)),
        Err(e) => return Err(e.into()),
    }
    if device.state != DeviceState::Pending {
        return Err(ServerError::Conflict("the device is not pending".into()));
    }
    let bad = |why: &str| ServerError::BadRequest(format!("endorsement: {why}"));
    let e = Endorsement::from_bytes(&req.endorsement.0).map_err(|_| bad("malformed"))?;
    let me = state.main.user(caller.user_id).await?;
    let my_keys = PublicKeys::from_bytes(&me.credentials.identity_public_keys)
        .map_err(ServerError::internal)?;
    e.verify(&my_keys)
        .map_err(|_| bad("not signed by your identity key"))?;
    let member = state.main.user(device.user_id).await?;
    let what = e.endorsed();
    if e.endorser_user() != caller.user_id.as_uuid().as_bytes() {
        return Err(bad("names another endorser"));
    }
    if what.workspace != *req.workspace_id.as_uuid().as_bytes() {
        return Err(bad("names another workspace"));
    }
    if what.user != *device.user_id.as_uuid().as_bytes()
        || what.identity.to_bytes().as_slice() != member.credentials.identity_public_keys.as_slice()
    {
        return Err(bad("names another user or identity than the device's"));
    }
    if what.device_id != *id.as_uuid().as_bytes()
        || what.device.to_bytes().as_slice() != device.public_keys.as_slice()
    {
        return Err(bad("names another device or other keys"));
    }
    let grants = endorsement_grants(&state, &caller, &approver, &device, &req).await?;
    let event = caller
        .event("device.endorse", id.to_string())
        .details(serde_json::json!({
            "user_id": device.user_id,
            "workspace_id": req.workspace_id,
            "grants": grants.len(),
        }));
    state
        .main
        .put_device_endorsement(
            &DeviceEndorsementRow {
                device_id: id,
                user_id: device.user_id,
                workspace_id: req.workspace_id,
                endorser_id: caller.user_id,
                endorsement: req.endorsement.0.clone(),
                created_at: 0,
            },
            &grants,
            Some(&event),
        )
        .await?;
    let _ = state.approvals.take(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The grants an admin issues with an endorsement: like [`approval_grants`], and the device's
/// user must be a member of each vault too.
async fn endorsement_grants(
    state: &AppState,
    caller: &Caller,
    approver: &Device,
    device: &Device,
    req: &EndorseDeviceRequest,
) -> ApiResult<Vec<(coffer_proto::VaultId, coffer_store::NewGrant)>> {
    for (i, g) in req.grants.iter().enumerate() {
        match state.main.vault_role(g.vault_id, device.user_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(ServerError::BadRequest(format!(
                    "grants[{i}]: the device's user is not a member of that vault"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let as_certify = CertifyDeviceRequest {
        certificate: B64(Vec::new()),
        grants: req.grants.clone(),
        recovery_proof: None,
        chain_link: None,
    };
    approval_grants(state, caller, approver, device, &as_certify).await
}
