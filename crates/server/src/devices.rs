//! Devices of the caller: list, revoke (state revoked and every session of the device revoked
//! in the same transaction), and the release of a device's **server share** after a
//! challenge–response: `POST /v1/devices/{id}/challenge` gives 32 random bytes (60 s, single
//! use, bound to the asking session); `POST /v1/devices/{id}/share` returns the share only to a
//! session of that same device that signed `"coffer.device-share.v1" ‖ challenge ‖ device_id
//! (16 bytes)` with the **user's identity key** (domain-separated signature, label
//! `device-share`; protocol.md §8.3, §14.1): the identity key opens only after a password login,
//! so a stolen session token alone cannot fetch the share.
//!
//! `POST /v1/devices/{id}/certificate` lets a session of a pending device store the certificate
//! its user's identity key issued for it; the device becomes trusted. `GET
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
use coffer_proto::vault::{CertifyDeviceRequest, UserDevice};
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

/// `POST /v1/devices/{id}/certificate`: a session of pending device `id` stores the certificate
/// its user's identity key issued for it (protocol.md §14.1); the device becomes trusted.
#[utoipa::path(post, path = "/v1/devices/{id}/certificate", tag = "devices",
    params(("id" = DeviceId, Path, description = "device id")),
    request_body = CertifyDeviceRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn certify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<DeviceId>,
    Json(req): Json<CertifyDeviceRequest>,
) -> ApiResult<StatusCode> {
    if id != caller.device_id {
        return Err(ServerError::Forbidden(
            "a device certificate is accepted only from a session of that device",
        ));
    }
    let device = state.main.device(id).await?;
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
    let event = caller.event("device.certify", id.to_string());
    state
        .main
        .approve_device(id, cert.as_bytes(), Some(&event))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/users/{id}/devices`: a user's devices with their public keys and certificates
/// (issue 4: only the caller's own user).
#[utoipa::path(get, path = "/v1/users/{id}/devices", tag = "devices",
    params(("id" = UserId, Path, description = "user id")),
    responses((status = 200, body = Vec<UserDevice>),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn user_devices(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<Json<Vec<UserDevice>>> {
    if id != caller.user_id {
        return Err(ServerError::Forbidden(
            "only your own devices can be listed",
        ));
    }
    let devices = state.main.list_devices(id).await?;
    Ok(Json(
        devices
            .into_iter()
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
