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
//! (audit `device.recover`). `GET
//! /v1/users/{id}/devices` lists a user's devices with their keys and certificates (for now only
//! the caller's own user).

use axum::extract::State;
use axum::http::StatusCode;
use coffer_crypto::chain::DeviceCertificate;
use coffer_crypto::identity::{PublicKeys, SIGNATURE_LEN};
use coffer_proto::api::{
    B64, DEVICE_SHARE_LABEL, DEVICE_SHARE_PREFIX, DeviceChallenge, DeviceInfo, DeviceShareRequest,
    DeviceShareResponse,
};
use coffer_proto::vault::{ApprovalNonce, CertifyDeviceRequest, UserDevice};
use coffer_proto::{DeviceId, DeviceState, UserId};
use coffer_store::{Device, StoreError, ValuePointer};

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

/// `PUT /v1/devices/{id}/approval`: a trusted device of the same user starts approving pending
/// device `id` by leaving the nonce of the approval code for it (protocol.md §14.4; 10 minutes).
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
    let device = user_device(
        &state,
        &caller,
        id,
        "only a device of your own user can be approved",
    )
    .await?;
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
                if has_trusted {
                    return Err(ServerError::Forbidden(APPROVAL_NEEDED_MESSAGE));
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
    let event = match (recovered, &approver) {
        (Some(r), _) => caller
            .event("device.recover", id.to_string())
            .details(serde_json::json!({ "recovery_id": r })),
        (None, Some(_)) => caller.event("device.approve", id.to_string()),
        (None, None) => caller.event("device.certify", id.to_string()),
    };
    state
        .main
        .approve_device(id, cert.as_bytes(), &grants, Some(&event))
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
/// (grant targets when sharing; clients verify each certificate themselves).
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
    let devices = state.main.list_devices(id).await?;
    Ok(Json(
        devices
            .into_iter()
            // Another user's pending or revoked devices are not grant targets.
            .filter(|d| own || d.state == DeviceState::Trusted)
            .map(|d| UserDevice {
                device_id: d.id,
                state: d.state,
                public_keys: B64(d.public_keys),
                certificate: d.certificate.map(B64),
            })
            .collect(),
    ))
}

/// `DELETE /v1/devices/{id}`: revokes one of the caller's devices and its sessions.
#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    responses((status = 204), (status = 404, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
) -> ApiResult<StatusCode> {
    match state.main.device(id).await {
        Ok(d) if d.user_id == caller.user_id => {}
        Ok(_) | Err(StoreError::NotFound) => return Err(ServerError::NotFound("device")),
        Err(e) => return Err(e.into()),
    }
    let event = caller.event("device.revoke", id.to_string());
    state.main.revoke_device(id, Some(&event)).await?;
    Ok(StatusCode::NO_CONTENT)
}
