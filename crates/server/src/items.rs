//! Item writes and revision history (docs/protocol.md §15.2): `POST /v1/vaults/{id}/items`
//! applies one write (create, edit, restore or delete) only if the vault's manifest counter and
//! the item's revision are still what the client based it on, else `409 conflict`; `GET
//! /v1/vaults/{v}/items/{i}/revisions` lists the kept revisions, newest first.
//!
//! The sealed bytes go to the value store first; the main-store transaction then checks the
//! counters, moves the vault to the new manifest, updates the item and its revision row,
//! prunes revisions beyond `revisions_kept` and appends the audit event. When it fails, the
//! new value is deleted again (best effort); when it succeeds, the pruned revisions' values
//! are deleted after the commit.

use axum::extract::State;
use coffer_proto::ItemId;
use coffer_proto::VaultId;
use coffer_proto::api::B64;
use coffer_proto::vault::{ItemRevision, VAULT_RECORD_ITEM, WriteItemRequest, WriteItemResponse};
use coffer_store::{ItemWrite, StoreError};

use crate::error::{ApiResult, ServerError};
use crate::extract::{Json, Path};
use crate::session::Caller;
use crate::state::AppState;
use crate::vaults::{
    drop_value, parse_manifest, parse_sealed, require_writer, signer_device, trusted_device,
    vault_role,
};

/// `POST /v1/vaults/{id}/items`: writes one item.
#[utoipa::path(post, path = "/v1/vaults/{id}/items", tag = "vaults",
    params(("id" = VaultId, Path, description = "vault id")),
    request_body = WriteItemRequest,
    responses((status = 200, body = WriteItemResponse),
              (status = 400, body = coffer_proto::ApiError),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn write(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<VaultId>,
    Json(req): Json<WriteItemRequest>,
) -> ApiResult<Json<WriteItemResponse>> {
    let device = trusted_device(&state, &caller).await?;
    require_writer(vault_role(&state, &caller, id).await?)?;
    let vault = state.main.vault(id).await?;
    if req.base_revision.checked_add(1) != Some(req.revision) {
        return Err(ServerError::BadRequest(
            "revision must be base_revision + 1".into(),
        ));
    }
    let h = parse_manifest(&req.manifest.0, id, vault.workspace_id)?;
    if req.base_counter.checked_add(1) != Some(h.counter) {
        return Err(ServerError::BadRequest(
            "manifest: its counter must be base_counter + 1".into(),
        ));
    }
    if h.epoch != vault.epoch {
        return Err(ServerError::BadRequest(format!(
            "manifest: epoch {} is not the vault's current epoch {}",
            h.epoch, vault.epoch
        )));
    }
    match &req.sealed {
        None if req.item_id == VAULT_RECORD_ITEM => {
            return Err(ServerError::BadRequest(
                "the vault record cannot be deleted".into(),
            ));
        }
        None => {}
        Some(b) => parse_sealed("sealed", &b.0)?,
    }
    let manifest_signer = signer_device(&state, &caller, &device, &h.signer).await?;
    let value = match &req.sealed {
        Some(b) => Some(state.put_sealed(&b.0).await?),
        None => None,
    };
    let w = ItemWrite {
        vault: id,
        item: req.item_id,
        base_counter: req.base_counter,
        base_revision: req.base_revision,
        revision: req.revision,
        epoch: req.epoch,
        value,
        manifest: req.manifest.0.clone(),
        manifest_signer,
        keep_revisions: state.revisions_kept,
    };
    let action = if value.is_some() {
        "item.write"
    } else {
        "item.delete"
    };
    let mut event = caller
        .event(action, req.item_id.to_string())
        .details(serde_json::json!({ "vault": id, "revision": req.revision }));
    if let Some(ws) = vault.workspace_id {
        event = event.workspace(ws);
    }
    let done = match state.main.write_item(&w, Some(&event)).await {
        Ok(d) => d,
        Err(e) => {
            if let Some(p) = value {
                drop_value(&state, p).await;
            }
            return Err(match e {
                StoreError::NotFound => ServerError::NotFound("vault"),
                other => other.into(),
            });
        }
    };
    for p in done.pruned {
        drop_value(&state, p).await;
    }
    Ok(Json(WriteItemResponse {
        counter: done.counter,
        revision: done.revision,
    }))
}

/// `GET /v1/vaults/{v}/items/{i}/revisions`: the kept revisions of an item, newest first.
#[utoipa::path(get, path = "/v1/vaults/{v}/items/{i}/revisions", tag = "vaults",
    params(("v" = VaultId, Path, description = "vault id"),
           ("i" = ItemId, Path, description = "item id")),
    responses((status = 200, body = Vec<ItemRevision>),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn revisions(
    State(state): State<AppState>,
    caller: Caller,
    Path((v, i)): Path<(VaultId, ItemId)>,
) -> ApiResult<Json<Vec<ItemRevision>>> {
    trusted_device(&state, &caller).await?;
    vault_role(&state, &caller, v).await?;
    let rows = state.main.item_revisions(v, i).await?;
    if rows.is_empty() {
        return Err(ServerError::NotFound("item"));
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let sealed = match r.value {
            Some(p) => Some(B64(state.open_sealed(p).await?.expose_secret().to_vec())),
            None => None,
        };
        out.push(ItemRevision {
            revision: r.revision,
            epoch: r.epoch,
            counter: r.counter,
            sealed,
            created_at: r.created_at,
        });
    }
    Ok(Json(out))
}
