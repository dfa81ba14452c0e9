//! Local vaults (docs/protocol.md §15): create (`POST /v1/vaults`), list (`GET /v1/vaults`)
//! and delete (`DELETE /v1/vaults/{id}`), plus the checks every vault handler shares: the
//! caller's device must be **trusted** ([`trusted_device`]) and the caller must be a member of
//! the vault with a role allowing the action ([`vault_role`]).
//!
//! The server parses what the client uploads (compact manifest header, sealed item, grants)
//! to refuse malformed input and to order writes, but never verifies a signature nor opens
//! anything: the client verifies manifests and grants against the identity it pinned.
//!
//! Values go to the value store (a separate database) **before** the main-store transaction
//! that references them; when that transaction fails, the value is deleted again, best effort
//! (a crash in between leaves an unreferenced ciphertext, never a dangling reference).

use axum::extract::State;
use axum::http::StatusCode;
use coffer_crypto::grant::Grant;
use coffer_crypto::identity::PublicKeys;
use coffer_crypto::item::SealedItem;
use coffer_crypto::manifest::{CompactHeader, Manifest};
use coffer_proto::vault::{CreateVaultRequest, FIRST_EPOCH, GrantRecipient, VaultInfo, VaultRole};
use coffer_proto::{DeviceId, DeviceState, VaultId, WorkspaceId};
use coffer_store::{Device, NewGrant, NewVault, StoreError, ValuePointer, VaultRemains};

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::policy::{self, Action};
use crate::session::Caller;
use crate::state::AppState;

/// The message of the `403` answered to a session of a device that is not trusted.
pub const PENDING_DEVICE_MESSAGE: &str = "this device is pending approval: approve it from one of \
                                          your trusted devices with `coffer device approve` \
                                          (`coffer device code` shows the code to compare)";

/// The caller's device, which must be trusted (`403` otherwise).
pub async fn trusted_device(state: &AppState, caller: &Caller) -> ApiResult<Device> {
    let device = state.main.device(caller.device_id).await?;
    if device.state != DeviceState::Trusted {
        return Err(ServerError::Forbidden(PENDING_DEVICE_MESSAGE));
    }
    Ok(device)
}

/// The caller's role in a live vault; `404 vault` when it does not exist, was deleted, or the
/// caller is not a member (the same answer, so ids cannot be probed).
pub async fn vault_role(state: &AppState, caller: &Caller, vault: VaultId) -> ApiResult<VaultRole> {
    match state.main.vault_role(vault, caller.user_id).await {
        Ok(r) => Ok(r),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("vault")),
        Err(e) => Err(e.into()),
    }
}

/// `403` unless `role` may write items.
pub fn require_writer(role: VaultRole) -> ApiResult<()> {
    if role.can_write() {
        Ok(())
    } else {
        Err(ServerError::Forbidden(
            "your vault role does not allow writing",
        ))
    }
}

/// The 16 bytes a vault's contexts use for its workspace (zero for a personal vault).
pub fn workspace_bytes(ws: Option<WorkspaceId>) -> [u8; 16] {
    ws.map_or([0; 16], |w| *w.as_uuid().as_bytes())
}

/// Parses a compact manifest and checks it names `vault` in `workspace`.
pub fn parse_manifest(
    bytes: &[u8],
    vault: VaultId,
    workspace: Option<WorkspaceId>,
) -> ApiResult<CompactHeader> {
    let h = Manifest::compact_header(bytes)
        .map_err(|e| ServerError::BadRequest(format!("manifest: not a compact manifest: {e}")))?;
    if h.vault != *vault.as_uuid().as_bytes() {
        return Err(ServerError::BadRequest(
            "manifest: names another vault".into(),
        ));
    }
    if h.workspace != workspace_bytes(workspace) {
        return Err(ServerError::BadRequest(
            "manifest: names another workspace".into(),
        ));
    }
    Ok(h)
}

/// Parses a sealed item (`what` names the field in the error).
pub fn parse_sealed(what: &str, bytes: &[u8]) -> ApiResult<()> {
    SealedItem::from_bytes(bytes)
        .map(|_| ())
        .map_err(|e| ServerError::BadRequest(format!("{what}: not a sealed item: {e}")))
}

/// The device of the caller's user whose Ed25519 key is `key`, if any (who signed a manifest
/// or grant; the identity key itself is no device).
pub async fn signer_device(
    state: &AppState,
    caller: &Caller,
    own: &Device,
    key: &[u8; 32],
) -> ApiResult<Option<DeviceId>> {
    let matches = |d: &Device| {
        PublicKeys::from_bytes(&d.public_keys)
            .map(|k| k.signing() == key)
            .unwrap_or(false)
    };
    if matches(own) {
        return Ok(Some(own.id));
    }
    let devices = state.main.list_devices(caller.user_id).await?;
    Ok(devices.iter().find(|d| matches(d)).map(|d| d.id))
}

fn encryption_key(bytes: &[u8]) -> ApiResult<[u8; 32]> {
    PublicKeys::from_bytes(bytes)
        .map(|k| *k.encryption())
        .map_err(ServerError::internal)
}

/// Deletes values and blobs a main-store change unlinked (best effort: a failure leaves an
/// unreferenced ciphertext, logged).
pub async fn drop_remains(state: &AppState, remains: &VaultRemains) {
    for p in &remains.values {
        drop_value(state, *p).await;
    }
    for b in &remains.blobs {
        if let Err(e) = state.values.delete_blob(b).await {
            tracing::warn!(error = %e, "could not delete an attachment blob");
        }
    }
}

/// Deletes one value, best effort.
pub async fn drop_value(state: &AppState, p: ValuePointer) {
    if let Err(e) = state.delete_sealed(p).await {
        tracing::warn!(error = %e, "could not delete an unreferenced value");
    }
}

/// `POST /v1/vaults`: creates a local vault; the caller becomes its manager.
#[utoipa::path(post, path = "/v1/vaults", tag = "vaults",
    request_body = CreateVaultRequest,
    responses((status = 201, body = VaultInfo),
              (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateVaultRequest>,
) -> ApiResult<(StatusCode, Json<VaultInfo>)> {
    let device = trusted_device(&state, &caller).await?;
    if let Some(ws) = req.workspace_id {
        let m = crate::workspaces::membership(&state, &caller, ws).await?;
        policy::authorize(m.role, Action::CreateVault)
            .map_err(|_| ServerError::Forbidden("your role does not allow this"))?;
    }
    let h = parse_manifest(&req.manifest.0, req.vault_id, req.workspace_id)?;
    if h.counter != 0 {
        return Err(ServerError::BadRequest(
            "manifest: a new vault's manifest has counter 0".into(),
        ));
    }
    if h.items != 1 {
        return Err(ServerError::BadRequest(
            "manifest: a new vault's manifest lists exactly one item (its record)".into(),
        ));
    }
    if h.epoch != FIRST_EPOCH {
        return Err(ServerError::BadRequest(format!(
            "manifest: a new vault starts at epoch {FIRST_EPOCH}"
        )));
    }
    parse_sealed("record", &req.record.0)?;
    let grants = check_grants(&state, &caller, &device, &req).await?;
    let manifest_signer = signer_device(&state, &caller, &device, &h.signer).await?;
    let role_statement = match &req.role_statement {
        Some(s) => Some(
            crate::sharing::check_role_statement(
                &state,
                &caller,
                &s.0,
                req.vault_id,
                caller.user_id,
                VaultRole::Manager,
            )
            .await?,
        ),
        None => None,
    };

    let record = state.put_sealed(&req.record.0).await?;
    let new = NewVault {
        id: req.vault_id,
        workspace_id: req.workspace_id,
        owner: caller.user_id,
        epoch: FIRST_EPOCH,
        manifest: req.manifest.0.clone(),
        manifest_signer,
        record,
        record_epoch: FIRST_EPOCH,
        grants,
        role_statement,
    };
    let mut event = caller.event("vault.create", req.vault_id.to_string());
    if let Some(ws) = req.workspace_id {
        event = event.workspace(ws);
    }
    let vault = match state.main.create_vault(&new, Some(&event)).await {
        Ok(v) => v,
        Err(e) => {
            drop_value(&state, record).await;
            return Err(match e {
                StoreError::Conflict(_) => ServerError::Conflict("vault id already used".into()),
                other => other.into(),
            });
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(VaultInfo {
            vault_id: vault.id,
            workspace_id: vault.workspace_id,
            epoch: vault.epoch,
            counter: vault.counter,
            role: VaultRole::Manager,
            created_at: vault.created_at,
        }),
    ))
}

/// Parses every grant of a new vault: each must be a grant of this vault's key at its epoch,
/// sealed to the X25519 key of the recipient it names (a device of the caller, or the caller's
/// identity); at least one must go to the calling device and one to its user.
async fn check_grants(
    state: &AppState,
    caller: &Caller,
    device: &Device,
    req: &CreateVaultRequest,
) -> ApiResult<Vec<NewGrant>> {
    let user = state.main.user(caller.user_id).await?;
    let identity_key = encryption_key(&user.credentials.identity_public_keys)?;
    let mut out = Vec::with_capacity(req.grants.len());
    let (mut to_device, mut to_user) = (false, false);
    let vault_bytes = *req.vault_id.as_uuid().as_bytes();
    for (i, g) in req.grants.iter().enumerate() {
        let bad = |m: &str| ServerError::BadRequest(format!("grants[{i}]: {m}"));
        let parsed =
            Grant::from_bytes(&g.grant.0).map_err(|e| bad(&format!("not a grant: {e}")))?;
        if g.epoch != FIRST_EPOCH {
            return Err(bad("a new vault's grants carry epoch 1"));
        }
        let ctx = parsed.context();
        if ctx.vault() != Some(&vault_bytes) || ctx.epoch() != g.epoch {
            return Err(bad("the grant is for another vault or epoch"));
        }
        let expected = match g.recipient {
            GrantRecipient::Device(d) => {
                let target = if d == device.id {
                    device.clone()
                } else {
                    match state.main.device(d).await {
                        Ok(t) if t.user_id == caller.user_id => t,
                        Ok(_) | Err(StoreError::NotFound) => {
                            return Err(bad("the recipient is not one of your devices"));
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                to_device |= d == caller.device_id;
                encryption_key(&target.public_keys)?
            }
            GrantRecipient::User(u) => {
                if u != caller.user_id {
                    return Err(bad("the recipient is not you"));
                }
                to_user = true;
                identity_key
            }
        };
        if *parsed.recipient() != expected {
            return Err(bad("sealed to another key than the recipient's"));
        }
        let signer_key = *parsed.signer();
        out.push(NewGrant {
            recipient: g.recipient,
            epoch: g.epoch,
            grant: g.grant.0.clone(),
            signer_key,
            signer_device: signer_device(state, caller, device, &signer_key).await?,
        });
    }
    if !to_device || !to_user {
        return Err(ServerError::BadRequest(
            "grants: at least one to this device and one to your user are required".into(),
        ));
    }
    Ok(out)
}

/// `GET /v1/vaults`: the caller's vaults and role in each.
#[utoipa::path(get, path = "/v1/vaults", tag = "vaults",
    responses((status = 200, body = Vec<VaultInfo>),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<VaultInfo>>> {
    trusted_device(&state, &caller).await?;
    let all = state.main.vaults_of_user(caller.user_id).await?;
    Ok(Json(
        all.into_iter()
            .map(|m| VaultInfo {
                vault_id: m.vault.id,
                workspace_id: m.vault.workspace_id,
                epoch: m.vault.epoch,
                counter: m.vault.counter,
                role: m.role,
                created_at: m.vault.created_at,
            })
            .collect(),
    ))
}

/// `DELETE /v1/vaults/{id}`: deletes a vault with its items, revisions, grants and
/// attachments (managers only). Later syncs answer a `gone` frame for it.
#[utoipa::path(delete, path = "/v1/vaults/{id}", tag = "vaults",
    params(("id" = VaultId, Path, description = "vault id")),
    responses((status = 204), (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
) -> ApiResult<StatusCode> {
    trusted_device(&state, &caller).await?;
    let role = vault_role(&state, &caller, id).await?;
    if role != VaultRole::Manager {
        return Err(ServerError::Forbidden("only a manager may delete a vault"));
    }
    let vault = state.main.vault(id).await?;
    let mut event = caller.event("vault.delete", id.to_string());
    if let Some(ws) = vault.workspace_id {
        event = event.workspace(ws);
    }
    let remains = match state.main.delete_vault(id, Some(&event)).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("vault")),
        Err(e) => return Err(e.into()),
    };
    drop_remains(&state, &remains).await;
    Ok(StatusCode::NO_CONTENT)
}
