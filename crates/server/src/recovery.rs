//! Recovery keys of local vaults (protocol.md §19, DESIGN §5): the server keeps, per recovery
//! key, the identity-signed enrolment, the recovery grants (vault keys sealed to the recovery
//! key) and its own half of the recovery secret, the **server share**.
//!
//! - `POST /v1/vaults/{id}/recovery`: a trusted device of a vault manager enrols a recovery key
//!   (audit `recovery.create`). The server checks the enrolment names the caller, the vault, its
//!   workspace and the request's id, and verifies under the caller's identity key; every grant
//!   must carry this vault's key at an existing epoch, sealed to the enrolled recovery key.
//! - `GET /v1/recovery` (any session of the user, pending devices included: restoring needs it)
//!   and `GET /v1/vaults/{id}/recovery` (trusted device): the caller's recovery keys with their
//!   enrolments and grants, **never the share**.
//! - `POST /v1/recovery/{id}/share`: the share, only to a session of the user who enrolled the
//!   key (audit `recovery.share_released`); anyone else gets the same `404` as for an unknown id.
//! - `POST /v1/recovery/{id}/grants`: grants of further epochs (after a key rotation).
//! - `DELETE /v1/recovery/{id}`: removes the key, its grants and its share.
//!
//! The share is stored in the value store under the server layer (like device shares) and held
//! in memory only as [`SecretBytes`]; it is never logged nor put in an error or audit event.
//! Using a recovery key to certify a device is `POST /v1/devices/{id}/certificate` with a
//! recovery proof ([`verify_proof`]).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use coffer_crypto::SecretBytes;
use coffer_crypto::grant::Grant;
use coffer_crypto::identity::PublicKeys;
use coffer_crypto::recovery::{Enrolment, RecoveryProof};
use coffer_proto::api::B64;
use coffer_proto::vault::{
    AddRecoveryGrants, CreateRecoveryRequest, RecoveryGrant, RecoveryKeyInfo, VaultRole,
};
use coffer_proto::{DeviceId, RecoveryId, VaultId};
use coffer_store::{Device, NewRecoveryKey, RecoveryGrantRow, RecoveryKey, StoreError};

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::session::Caller;
use crate::state::AppState;
use crate::vaults::{drop_value, trusted_device, vault_role, workspace_bytes};

/// The caller's recovery key `id`; `404 recovery key` for an unknown id, a deleted vault, or a
/// key of another user alike (so ids cannot be probed).
async fn own_key(state: &AppState, caller: &Caller, id: RecoveryId) -> ApiResult<RecoveryKey> {
    match state.main.recovery_key(id).await {
        Ok(k) if k.user_id == caller.user_id => Ok(k),
        Ok(_) | Err(StoreError::NotFound) => Err(ServerError::NotFound("recovery key")),
        Err(e) => Err(e.into()),
    }
}

/// `403` unless the caller manages `vault`.
async fn require_manager(state: &AppState, caller: &Caller, vault: VaultId) -> ApiResult<()> {
    if vault_role(state, caller, vault).await? != VaultRole::Manager {
        return Err(ServerError::Forbidden(
            "only a manager of the vault may manage its recovery keys",
        ));
    }
    Ok(())
}

/// Checks recovery grants: each parses, carries `vault`'s key at an epoch from 1 to the vault's
/// current one (each epoch once), and is sealed to `recovery`'s X25519 key.
fn check_grants(
    grants: &[RecoveryGrant],
    vault: VaultId,
    current_epoch: u32,
    recovery: &PublicKeys,
) -> ApiResult<Vec<RecoveryGrantRow>> {
    if grants.is_empty() {
        return Err(ServerError::BadRequest(
            "grants: at least one grant is required".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(grants.len());
    for (i, g) in grants.iter().enumerate() {
        let bad = |m: &str| ServerError::BadRequest(format!("grants[{i}]: {m}"));
        let parsed =
            Grant::from_bytes(&g.grant.0).map_err(|e| bad(&format!("not a grant: {e}")))?;
        let ctx = parsed.context();
        if ctx.vault() != Some(vault.as_uuid().as_bytes()) || ctx.epoch() != g.epoch {
            return Err(bad("the grant is for another vault or epoch"));
        }
        if g.epoch == 0 || g.epoch > current_epoch {
            return Err(bad("the vault has no key of this epoch"));
        }
        if !seen.insert(g.epoch) {
            return Err(bad("a second grant of the same epoch"));
        }
        if parsed.recipient() != recovery.encryption() {
            return Err(bad("sealed to another key than the enrolled recovery key"));
        }
        out.push(RecoveryGrantRow {
            epoch: g.epoch,
            grant: g.grant.0.clone(),
        });
    }
    Ok(out)
}

async fn info(state: &AppState, k: &RecoveryKey) -> ApiResult<RecoveryKeyInfo> {
    let grants = state.main.recovery_grants(k.id).await?;
    Ok(RecoveryKeyInfo {
        recovery_id: k.id,
        vault_id: k.vault_id,
        enrolment: B64(k.enrolment.clone()),
        created_at: k.created_at,
        grants: grants
            .into_iter()
            .map(|g| RecoveryGrant {
                epoch: g.epoch,
                grant: B64(g.grant),
            })
            .collect(),
    })
}

/// `POST /v1/vaults/{id}/recovery`: enrols a recovery key of the vault.
#[utoipa::path(post, path = "/v1/vaults/{id}/recovery", tag = "recovery",
    params(("id" = VaultId, Path, description = "vault id")),
    request_body = CreateRecoveryRequest,
    responses((status = 201, body = RecoveryKeyInfo),
              (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
    Json(req): Json<CreateRecoveryRequest>,
) -> ApiResult<(StatusCode, Json<RecoveryKeyInfo>)> {
    trusted_device(&state, &caller).await?;
    require_manager(&state, &caller, id).await?;
    let vault = state.main.vault(id).await?;
    let share = SecretBytes::<32>::from_slice(&req.server_share.0)
        .map_err(|_| ServerError::BadRequest("server_share: 32 bytes expected".into()))?;
    let bad = |why: &str| ServerError::BadRequest(format!("enrolment: {why}"));
    let enrolment =
        Enrolment::from_bytes(&req.enrolment.0).map_err(|e| bad(&format!("malformed: {e}")))?;
    let user = state.main.user(caller.user_id).await?;
    let identity = PublicKeys::from_bytes(&user.credentials.identity_public_keys)
        .map_err(ServerError::internal)?;
    enrolment
        .verify(&identity)
        .map_err(|_| bad("not signed by your identity key"))?;
    let body = enrolment.body();
    if body.recovery_id != *req.recovery_id.as_uuid().as_bytes() {
        return Err(bad("names another recovery id"));
    }
    if body.user != *caller.user_id.as_uuid().as_bytes() {
        return Err(bad("names another user"));
    }
    if body.vault != *id.as_uuid().as_bytes() {
        return Err(bad("names another vault"));
    }
    if body.workspace != workspace_bytes(vault.workspace_id) {
        return Err(bad("names another workspace"));
    }
    let grants = check_grants(&req.grants, id, vault.epoch, &body.recovery_keys)?;
    let pointer = state.put_sealed(share.expose_secret()).await?;
    drop(share);
    let new = NewRecoveryKey {
        id: req.recovery_id,
        vault_id: id,
        user_id: caller.user_id,
        enrolment: req.enrolment.0.clone(),
        public_keys: body.recovery_keys.to_bytes().to_vec(),
        server_share: pointer,
        grants,
    };
    let mut event = caller
        .event("recovery.create", req.recovery_id.to_string())
        .details(serde_json::json!({ "vault_id": id }));
    if let Some(ws) = vault.workspace_id {
        event = event.workspace(ws);
    }
    let key = match state.main.create_recovery_key(&new, Some(&event)).await {
        Ok(k) => k,
        Err(e) => {
            drop_value(&state, pointer).await;
            return Err(match e {
                StoreError::Conflict(_) => ServerError::Conflict("recovery id already used".into()),
                StoreError::NotFound => ServerError::NotFound("vault"),
                other => other.into(),
            });
        }
    };
    Ok((StatusCode::CREATED, Json(info(&state, &key).await?)))
}

/// `GET /v1/vaults/{id}/recovery`: the caller's recovery keys of the vault.
#[utoipa::path(get, path = "/v1/vaults/{id}/recovery", tag = "recovery",
    params(("id" = VaultId, Path, description = "vault id")),
    responses((status = 200, body = Vec<RecoveryKeyInfo>),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn list_vault(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
) -> ApiResult<Json<Vec<RecoveryKeyInfo>>> {
    trusted_device(&state, &caller).await?;
    vault_role(&state, &caller, id).await?;
    let keys = state
        .main
        .recovery_keys_of_user(caller.user_id, Some(id))
        .await?;
    let mut out = Vec::with_capacity(keys.len());
    for k in &keys {
        out.push(info(&state, k).await?);
    }
    Ok(Json(out))
}

/// `GET /v1/recovery`: every recovery key of the caller (also from a pending device, which
/// needs them to restore).
#[utoipa::path(get, path = "/v1/recovery", tag = "recovery",
    responses((status = 200, body = Vec<RecoveryKeyInfo>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<RecoveryKeyInfo>>> {
    let keys = state
        .main
        .recovery_keys_of_user(caller.user_id, None)
        .await?;
    let mut out = Vec::with_capacity(keys.len());
    for k in &keys {
        out.push(info(&state, k).await?);
    }
    Ok(Json(out))
}

/// `POST /v1/recovery/{id}/share`: the server share, to a session of the enrolling user only.
#[utoipa::path(post, path = "/v1/recovery/{id}/share", tag = "recovery",
    params(("id" = RecoveryId, Path, description = "recovery key id")),
    responses((status = 200, body = coffer_proto::vault::RecoveryShare),
              (status = 401, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<RecoveryId>,
) -> ApiResult<Json<coffer_proto::vault::RecoveryShare>> {
    let key = match own_key(&state, &caller, id).await {
        Ok(k) => k,
        Err(e) => {
            let event = caller.event("recovery.share_denied", id.to_string());
            if let Err(err) = state.main.append_audit(&event).await {
                tracing::error!(error = %err, "audit of a refused recovery share");
            }
            return Err(e);
        }
    };
    let share = state.open_sealed(key.server_share).await?;
    let share = SecretBytes::<32>::from_slice(share.expose_secret())
        .map_err(|_| ServerError::internal("stored recovery share has the wrong length"))?;
    let event = caller
        .event("recovery.share_released", id.to_string())
        .details(serde_json::json!({ "vault_id": key.vault_id }));
    state.main.append_audit(&event).await?;
    Ok(Json(coffer_proto::vault::RecoveryShare {
        share: B64(share.expose_secret().to_vec()),
    }))
}

/// `POST /v1/recovery/{id}/grants`: grants of further epochs of the vault key.
#[utoipa::path(post, path = "/v1/recovery/{id}/grants", tag = "recovery",
    params(("id" = RecoveryId, Path, description = "recovery key id")),
    request_body = AddRecoveryGrants,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn add_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<RecoveryId>,
    Json(req): Json<AddRecoveryGrants>,
) -> ApiResult<StatusCode> {
    trusted_device(&state, &caller).await?;
    let key = own_key(&state, &caller, id).await?;
    require_manager(&state, &caller, key.vault_id).await?;
    let vault = state.main.vault(key.vault_id).await?;
    let recovery = PublicKeys::from_bytes(&key.public_keys).map_err(ServerError::internal)?;
    let grants = check_grants(&req.grants, key.vault_id, vault.epoch, &recovery)?;
    let event = caller.event("recovery.grants", id.to_string());
    match state
        .main
        .add_recovery_grants(id, &grants, Some(&event))
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::Conflict(_)) => Err(ServerError::Conflict(
            "the recovery key already has a grant of this epoch".into(),
        )),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("recovery key")),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/recovery/{id}`: removes a recovery key, its grants and its share.
#[utoipa::path(delete, path = "/v1/recovery/{id}", tag = "recovery",
    params(("id" = RecoveryId, Path, description = "recovery key id")),
    responses((status = 204), (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<RecoveryId>,
) -> ApiResult<StatusCode> {
    trusted_device(&state, &caller).await?;
    own_key(&state, &caller, id).await?;
    let event = caller.event("recovery.delete", id.to_string());
    let pointer = match state.main.delete_recovery_key(id, Some(&event)).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("recovery key")),
        Err(e) => return Err(e.into()),
    };
    drop_value(&state, pointer).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a recovery proof presented by pending device `device` of the caller's user: it
/// parses, names a recovery key of this user, this user, this device and its registered keys,
/// and verifies under that key's enrolled public keys. Returns the recovery key's id (for the
/// audit event). Every refusal is `403` with one message.
pub async fn verify_proof(
    state: &AppState,
    caller: &Caller,
    device: &Device,
    proof: &[u8],
) -> ApiResult<RecoveryId> {
    const REFUSED: &str = "recovery proof refused: it does not verify under a recovery key of \
                           yours for this device";
    let proof = RecoveryProof::from_bytes(proof)
        .map_err(|e| ServerError::BadRequest(format!("recovery_proof: malformed: {e}")))?;
    let id = RecoveryId::from_uuid(uuid::Uuid::from_bytes(*proof.recovery_id()));
    let key = match own_key(state, caller, id).await {
        Ok(k) => k,
        Err(ServerError::NotFound(_)) => return Err(ServerError::Forbidden(REFUSED)),
        Err(e) => return Err(e),
    };
    let device_id: DeviceId = device.id;
    if proof.user() != caller.user_id.as_uuid().as_bytes()
        || proof.device() != device_id.as_uuid().as_bytes()
        || proof.device_keys().to_bytes().as_slice() != device.public_keys.as_slice()
    {
        return Err(ServerError::Forbidden(REFUSED));
    }
    let recovery = PublicKeys::from_bytes(&key.public_keys).map_err(ServerError::internal)?;
    proof
        .verify(&recovery)
        .map_err(|_| ServerError::Forbidden(REFUSED))?;
    Ok(id)
}
