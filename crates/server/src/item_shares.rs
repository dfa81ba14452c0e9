//! Items shared alone (docs/protocol.md §21): a vault manager shares one item with a member of
//! the vault's workspace who need not be a member of the vault, by granting that item's key;
//! the recipient reads the item through `GET /v1/shared-items`. The server checks each grant
//! like a vault-key grant (this vault, this item, the item's epoch, sealed to the recipient's
//! registered key, signed by a device of the caller) and can do no more: the recipient opens
//! only grants whose signer chains to an identity it trusts.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::StatusCode;
use coffer_proto::api::B64;
use coffer_proto::vault::{
    GrantSigner, ItemShareInfo, ShareItemRequest, SharedItem, VaultGrant, VaultRole,
};
use coffer_proto::{DeviceId, ItemId, UserId, VaultId};
use coffer_store::StoreError;

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::session::Caller;
use crate::sharing::{check_grants_to, recipient_workspace};
use crate::state::AppState;
use crate::vaults::{trusted_device, vault_role};

/// `PUT /v1/vaults/{id}/items/{item}/shares/{user_id}`: shares one item alone with a member of
/// the vault's workspace (managers only), replacing that user's grants of the item.
#[utoipa::path(put, path = "/v1/vaults/{id}/items/{item}/shares/{user_id}", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id"),
           ("item" = ItemId, Path, description = "item id"),
           ("user_id" = UserId, Path, description = "the user to share with")),
    request_body = ShareItemRequest,
    responses((status = 204), (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, item, user)): Path<(VaultId, ItemId, UserId)>,
    Json(req): Json<ShareItemRequest>,
) -> ApiResult<StatusCode> {
    let device = trusted_device(&state, &caller).await?;
    if vault_role(&state, &caller, id).await? != VaultRole::Manager {
        return Err(ServerError::Forbidden(
            "only a manager of the vault may share its items",
        ));
    }
    let vault = state.main.vault(id).await?;
    let ws = recipient_workspace(
        &state,
        &vault,
        user,
        "an item of a personal vault cannot be shared",
    )
    .await?;
    let recipients = BTreeSet::from([user]);
    let item_bytes = *item.as_uuid().as_bytes();
    let grants = check_grants_to(
        &state,
        &caller,
        &device,
        &vault,
        &req.grants,
        &recipients,
        Some(item_bytes),
    )
    .await?;
    let event = caller
        .event("item.share", item.to_string())
        .workspace(ws)
        .details(serde_json::json!({
            "vault": id, "user": user, "grants": grants.len(),
        }));
    match state
        .main
        .share_item(id, item, user, &grants, caller.user_id, Some(&event))
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("item")),
        Err(StoreError::Conflict(m)) => Err(ServerError::Conflict(m)),
        Err(StoreError::Invalid(m)) => Err(ServerError::BadRequest(m)),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/vaults/{id}/items/{item}/shares/{user_id}`: ends an item share (managers) and
/// flags the vault for rotation, so the item gets a fresh key.
#[utoipa::path(delete, path = "/v1/vaults/{id}/items/{item}/shares/{user_id}", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id"),
           ("item" = ItemId, Path, description = "item id"),
           ("user_id" = UserId, Path, description = "the user")),
    responses((status = 204), (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn unshare(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, item, user)): Path<(VaultId, ItemId, UserId)>,
) -> ApiResult<StatusCode> {
    trusted_device(&state, &caller).await?;
    if vault_role(&state, &caller, id).await? != VaultRole::Manager {
        return Err(ServerError::Forbidden(
            "only a manager of the vault may unshare its items",
        ));
    }
    let vault = state.main.vault(id).await?;
    let mut event = caller
        .event("item.unshare", item.to_string())
        .details(serde_json::json!({ "vault": id, "user": user }));
    if let Some(ws) = vault.workspace_id {
        event = event.workspace(ws);
    }
    match state.main.unshare_item(id, item, user, Some(&event)).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(ServerError::NotFound("item share")),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/vaults/{id}/item-shares`: the items of a vault shared alone, and with whom (any
/// member).
#[utoipa::path(get, path = "/v1/vaults/{id}/item-shares", tag = "sharing",
    params(("id" = VaultId, Path, description = "vault id")),
    responses((status = 200, body = Vec<ItemShareInfo>),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
) -> ApiResult<Json<Vec<ItemShareInfo>>> {
    trusted_device(&state, &caller).await?;
    vault_role(&state, &caller, id).await?;
    let all = state.main.item_shares_of_vault(id).await?;
    Ok(Json(
        all.into_iter()
            .map(|(item_id, user_id)| ItemShareInfo { item_id, user_id })
            .collect(),
    ))
}

/// `GET /v1/shared-items`: the items shared with the caller alone, each with its current
/// sealed bytes, the grants to the caller's identity and devices, and the certificates of the
/// devices that signed them.
#[utoipa::path(get, path = "/v1/shared-items", tag = "sharing",
    responses((status = 200, body = Vec<SharedItem>),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn shared_with_me(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SharedItem>>> {
    trusted_device(&state, &caller).await?;
    let rows = state.main.items_shared_with(caller.user_id).await?;
    let mut certs: BTreeMap<DeviceId, Option<GrantSigner>> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (Some(ws), Some(pointer)) = (row.workspace_id, row.item.value) else {
            continue;
        };
        let sealed = state.open_sealed(pointer).await?;
        let mut signers = Vec::new();
        for g in &row.grants {
            let Some(d) = g.signer_device else { continue };
            if let std::collections::btree_map::Entry::Vacant(slot) = certs.entry(d) {
                let found = match state.main.device(d).await {
                    Ok(dev) => dev.certificate.map(|c| GrantSigner {
                        user_id: dev.user_id,
                        certificate: B64(c),
                    }),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                };
                slot.insert(found);
            }
            if let Some(Some(s)) = certs.get(&d) {
                signers.push(s.clone());
            }
        }
        out.push(SharedItem {
            vault_id: row.vault_id,
            workspace_id: ws,
            item_id: row.item.item_id,
            revision: row.item.revision,
            epoch: row.item.epoch,
            sealed: B64(sealed.expose_secret().to_vec()),
            grants: row
                .grants
                .into_iter()
                .map(|g| VaultGrant {
                    recipient: g.recipient,
                    epoch: g.epoch,
                    grant: B64(g.grant),
                })
                .collect(),
            signers,
        });
    }
    Ok(Json(out))
}
