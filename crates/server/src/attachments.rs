//! Attachment blobs (docs/protocol.md §16): `PUT`, `GET` and `DELETE
//! /v1/vaults/{v}/items/{i}/attachments/{a}`. The body is the client's encrypted stream, raw;
//! the server never sees a plaintext byte.
//!
//! An upload is read as it arrives and cut into segments of [`SEGMENT_SIZE`] bytes, each
//! sealed under the current server data key (bound to its blob id and position) and stored in
//! the value store, so memory stays constant whatever the size. The attachment becomes
//! visible (registered in the main store) only once the whole body arrived; a body larger than
//! `max_attachment_size` (`413`), a broken connection or a failed registration deletes the
//! segments written so far — also when the client disconnects and the handler is dropped
//! mid-way ([`BlobGuard`]). A download streams the segments back one by one.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use coffer_crypto::KeyId;
use coffer_proto::vault::{ATTACHMENT_CONTENT_TYPE, AttachmentStored};
use coffer_proto::{ItemId, VaultId};
use coffer_store::{Attachment, StoreError};
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};

use crate::error::{ApiResult, ServerError};
use crate::extract::Path;
use crate::session::{Caller, now};
use crate::state::{AppState, data_key_id};
use crate::vaults::{require_writer, trusted_device, vault_role};

/// Bytes per stored segment (1 MiB).
pub const SEGMENT_SIZE: usize = 1 << 20;

/// The 32 bytes a segment's server-side seal is bound to: SHA-256 of a label, the blob id and
/// the position, so a segment cannot be moved to another blob or position unnoticed.
pub fn segment_binding(blob: &[u8; 32], seq: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"coffer.attachment-segment.v1");
    h.update(blob);
    h.update(seq.to_be_bytes());
    h.finalize().into()
}

/// Seals and stores one segment under the current data key.
pub async fn put_segment(
    state: &AppState,
    blob: &[u8; 32],
    seq: u64,
    data: &[u8],
) -> ApiResult<()> {
    let binding = segment_binding(blob, seq);
    let (key, sealed) = {
        let ring = state.keyring();
        let sealed = ring
            .seal_value(&binding, data)
            .map_err(ServerError::internal)?;
        (ring.current_key_id(), sealed)
    };
    state
        .values
        .put_segment(blob, seq, data_key_id(key), &sealed)
        .await?;
    Ok(())
}

/// Reads and opens one segment.
pub async fn open_segment(state: &AppState, blob: &[u8; 32], seq: u64) -> ApiResult<Vec<u8>> {
    let stored = state.values.segment(blob, seq).await?;
    if !state
        .keyring()
        .contains(KeyId(*stored.data_key_id.as_bytes()))
    {
        state.reload_keyring().await?;
    }
    let plain = state
        .keyring()
        .open_value(&segment_binding(blob, seq), &stored.data)
        .map_err(ServerError::internal)?;
    Ok(plain.expose_secret().to_vec())
}

/// Deletes a blob's segments when dropped while armed (an upload that did not complete, even
/// when its handler is dropped because the client went away).
pub struct BlobGuard {
    state: AppState,
    blob: [u8; 32],
    armed: bool,
}

impl BlobGuard {
    /// Guards `blob`.
    pub fn new(state: AppState, blob: [u8; 32]) -> Self {
        Self {
            state,
            blob,
            armed: true,
        }
    }

    /// The upload completed: keep the segments.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for BlobGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let state = self.state.clone();
        let blob = self.blob;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = state.values.delete_blob(&blob).await {
                    tracing::warn!(error = %e, "could not delete an unfinished upload");
                }
            });
        }
    }
}

/// `PUT /v1/vaults/{v}/items/{i}/attachments/{a}`: stores (or replaces) an attachment.
#[utoipa::path(put, path = "/v1/vaults/{v}/items/{i}/attachments/{a}", tag = "vaults",
    params(("v" = VaultId, Path, description = "vault id"),
           ("i" = ItemId, Path, description = "item id"),
           ("a" = uuid::Uuid, Path, description = "attachment id")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = AttachmentStored),
              (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError),
              (status = 413, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path((v, i, a)): Path<(VaultId, ItemId, uuid::Uuid)>,
    body: Body,
) -> ApiResult<axum::Json<AttachmentStored>> {
    trusted_device(&state, &caller).await?;
    require_writer(vault_role(&state, &caller, v).await?)?;
    let vault = state.main.vault(v).await?;
    let blob: [u8; 32] = coffer_crypto::secret::random_array().map_err(ServerError::internal)?;
    let mut guard = BlobGuard::new(state.clone(), blob);
    let max = state.max_attachment_size;
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(SEGMENT_SIZE);
    let (mut size, mut seq) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| ServerError::BadRequest("the upload was interrupted".into()))?;
        size = size.saturating_add(chunk.len() as u64);
        if size > max {
            return Err(ServerError::AttachmentTooLarge(max));
        }
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let take = rest.len().min(SEGMENT_SIZE - buf.len());
            buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if buf.len() == SEGMENT_SIZE {
                put_segment(&state, &blob, seq, &buf).await?;
                seq += 1;
                buf.clear();
            }
        }
    }
    if !buf.is_empty() {
        put_segment(&state, &blob, seq, &buf).await?;
        seq += 1;
    }
    let att = Attachment {
        vault: v,
        item: i,
        attachment: a,
        blob_id: blob,
        size,
        segments: seq,
        created_at: now(),
    };
    let mut event = caller
        .event("attachment.add", a.to_string())
        .details(serde_json::json!({ "vault": v, "item": i, "size": size }));
    if let Some(ws) = vault.workspace_id {
        event = event.workspace(ws);
    }
    let replaced = match state.main.put_attachment(&att, Some(&event)).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("vault")),
        Err(e) => return Err(e.into()),
    };
    guard.disarm();
    if let Some(old) = replaced
        && let Err(e) = state.values.delete_blob(&old).await
    {
        tracing::warn!(error = %e, "could not delete a replaced attachment");
    }
    Ok(axum::Json(AttachmentStored { size }))
}

/// `GET /v1/vaults/{v}/items/{i}/attachments/{a}`: streams an attachment back.
#[utoipa::path(get, path = "/v1/vaults/{v}/items/{i}/attachments/{a}", tag = "vaults",
    params(("v" = VaultId, Path, description = "vault id"),
           ("i" = ItemId, Path, description = "item id"),
           ("a" = uuid::Uuid, Path, description = "attachment id")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((v, i, a)): Path<(VaultId, ItemId, uuid::Uuid)>,
) -> ApiResult<Response> {
    trusted_device(&state, &caller).await?;
    vault_role(&state, &caller, v).await?;
    let att = match state.main.attachment(v, i, a).await {
        Ok(att) => att,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("attachment")),
        Err(e) => return Err(e.into()),
    };
    let blob = att.blob_id;
    let total = att.segments;
    let stream = futures_util::stream::unfold(0u64, move |seq| {
        let state = state.clone();
        async move {
            if seq >= total {
                return None;
            }
            match open_segment(&state, &blob, seq).await {
                Ok(data) => Some((Ok::<_, std::io::Error>(Bytes::from(data)), seq + 1)),
                Err(e) => {
                    tracing::error!(error = %e, "attachment download cut");
                    // An error ends the body early: the client sees a short download.
                    Some((Err(std::io::Error::other("attachment read failed")), total))
                }
            }
        }
    })
    .fuse();
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ATTACHMENT_CONTENT_TYPE),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(att.size));
    Ok(resp)
}

/// `DELETE /v1/vaults/{v}/items/{i}/attachments/{a}`: removes an attachment.
#[utoipa::path(delete, path = "/v1/vaults/{v}/items/{i}/attachments/{a}", tag = "vaults",
    params(("v" = VaultId, Path, description = "vault id"),
           ("i" = ItemId, Path, description = "item id"),
           ("a" = uuid::Uuid, Path, description = "attachment id")),
    responses((status = 204), (status = 403, body = coffer_proto::ApiError),
              (status = 404, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((v, i, a)): Path<(VaultId, ItemId, uuid::Uuid)>,
) -> ApiResult<StatusCode> {
    trusted_device(&state, &caller).await?;
    require_writer(vault_role(&state, &caller, v).await?)?;
    let vault = state.main.vault(v).await?;
    let mut event = caller
        .event("attachment.delete", a.to_string())
        .details(serde_json::json!({ "vault": v, "item": i }));
    if let Some(ws) = vault.workspace_id {
        event = event.workspace(ws);
    }
    let blob = match state.main.delete_attachment(v, i, a, Some(&event)).await {
        Ok(b) => b,
        Err(StoreError::NotFound) => return Err(ServerError::NotFound("attachment")),
        Err(e) => return Err(e.into()),
    };
    if let Err(e) = state.values.delete_blob(&blob).await {
        tracing::warn!(error = %e, "could not delete an attachment's segments");
    }
    Ok(StatusCode::NO_CONTENT)
}
