//! The sync stream (docs/protocol.md §15.3): `POST /v1/sync` answers a sequence of binary
//! frames `kind:u8 ‖ len:u32 BE ‖ payload` (content type
//! [`SYNC_CONTENT_TYPE`](coffer_proto::vault::SYNC_CONTENT_TYPE), gzip when the client asks):
//! per vault of the caller a vault frame then its item frames, a gone frame per vault id the
//! client named that is no longer the caller's, and the end frame last.
//!
//! The answer is produced by a task that reads the main store from one consistent snapshot in
//! pages of [`PAGE`] items and sends frames through a small channel as it goes, so memory stays
//! bounded by a page whatever the vault's size. When anything fails mid-way the task stops
//! **without** the end frame: the client sees a cut stream and keeps its cache.

use std::collections::BTreeSet;
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use coffer_proto::api::B64;
use coffer_proto::vault::{
    MemberRoleStatement, SYNC_CONTENT_TYPE, SYNC_ITEM_DELETED, SignerChain, SignerDevice, SyncEnd,
    SyncFrameKind, SyncRequest, SyncVault, VaultGrant,
};
use coffer_proto::{DeviceId, UserId};
use coffer_store::{ItemSelection, StoreError, VaultMembership, VaultSnapshot};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::error::{ApiResult, ServerError};
use crate::extract::Json;
use crate::session::Caller;
use crate::state::AppState;
use crate::vaults::trusted_device;

/// Items read per page.
pub const PAGE: u32 = 500;

/// Bytes gathered before they are handed to the connection.
const FLUSH_AT: usize = 64 * 1024;

/// Appends one frame to `out`.
pub fn put_frame(out: &mut BytesMut, kind: SyncFrameKind, payload: &[u8]) -> ApiResult<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| ServerError::internal("sync frame larger than 4 GiB"))?;
    out.reserve(5 + payload.len());
    out.put_u8(kind.code());
    out.put_u32(len);
    out.put_slice(payload);
    Ok(())
}

/// `POST /v1/sync`: the caller's vaults and their items since the counters the client holds.
#[utoipa::path(post, path = "/v1/sync", tag = "vaults",
    request_body = SyncRequest,
    responses((status = 200, description = "a stream of sync frames (protocol.md §15.3)",
               content_type = "application/vnd.coffer.sync.v1"),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn sync(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SyncRequest>,
) -> ApiResult<Response> {
    trusted_device(&state, &caller).await?;
    // Open the snapshot before answering, so a store failure is still a clean 500.
    let snapshot = state.main.vault_snapshot().await?;
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let (user, device) = (caller.user_id, caller.device_id);
    tokio::spawn(async move {
        if let Err(e) = produce(&state, snapshot, user, device, &req, &tx).await {
            match e {
                Produce::Closed => tracing::debug!("sync client went away"),
                Produce::Failed(e) => tracing::error!(error = %e, "sync stream cut"),
            }
        }
    });
    // Fused: a body (e.g. under the compression layer) may poll again after the end.
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    })
    .fuse();
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SYNC_CONTENT_TYPE),
    );
    Ok(resp)
}

enum Produce {
    /// The client stopped reading.
    Closed,
    /// The server failed.
    Failed(ServerError),
}

impl From<ServerError> for Produce {
    fn from(e: ServerError) -> Self {
        Produce::Failed(e)
    }
}

impl From<StoreError> for Produce {
    fn from(e: StoreError) -> Self {
        Produce::Failed(e.into())
    }
}

struct Out<'a> {
    buf: BytesMut,
    tx: &'a mpsc::Sender<Bytes>,
}

impl Out<'_> {
    async fn frame(&mut self, kind: SyncFrameKind, payload: &[u8]) -> Result<(), Produce> {
        put_frame(&mut self.buf, kind, payload)?;
        if self.buf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Produce> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.tx.send(chunk).await.map_err(|_| Produce::Closed)
    }
}

async fn produce(
    state: &AppState,
    mut snap: VaultSnapshot,
    user: UserId,
    device: DeviceId,
    req: &SyncRequest,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), Produce> {
    let mut out = Out {
        buf: BytesMut::new(),
        tx,
    };
    let mut end = SyncEnd {
        vaults: 0,
        items: 0,
    };
    let vaults = snap.vaults_of_user(user).await?;
    let mine: BTreeSet<_> = vaults.iter().map(|m| m.vault.id).collect();
    for m in &vaults {
        end.items += vault_frames(state, &mut snap, &mut out, m, user, device, req).await?;
        end.vaults += 1;
    }
    for id in req.vaults.keys().filter(|id| !mine.contains(id)) {
        out.frame(SyncFrameKind::Gone, id.as_uuid().as_bytes())
            .await?;
    }
    let json = serde_json::to_vec(&end).map_err(ServerError::internal)?;
    out.frame(SyncFrameKind::End, &json).await?;
    out.flush().await?;
    snap.finish().await?;
    Ok(())
}

/// Writes one vault's frame and its item frames; returns the number of item frames.
async fn vault_frames(
    state: &AppState,
    snap: &mut VaultSnapshot,
    out: &mut Out<'_>,
    m: &VaultMembership,
    user: UserId,
    device: DeviceId,
    req: &SyncRequest,
) -> Result<u64, Produce> {
    let v = &m.vault;
    let held = req.vaults.get(&v.id).copied().unwrap_or(0);
    let full = held == 0 || held > v.counter;
    let grants = snap.grants_for(v.id, device, user).await?;
    let mut signer_ids: BTreeSet<DeviceId> =
        grants.iter().filter_map(|g| g.signer_device).collect();
    signer_ids.extend(v.manifest_signer);
    let mut signers = Vec::new();
    for id in signer_ids {
        match snap.device(id).await {
            Ok(d) => {
                if let Some(cert) = d.certificate {
                    signers.push(SignerDevice {
                        device_id: d.id,
                        user_id: d.user_id,
                        certificate: B64(cert),
                    });
                }
            }
            // A signer device deleted since: the client cannot check what it signed.
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let roles: Vec<MemberRoleStatement> = match v.workspace_id {
        Some(_) => snap
            .role_statements(v.id)
            .await?
            .into_iter()
            .map(|(user_id, st)| MemberRoleStatement {
                user_id,
                statement: B64(st),
            })
            .collect(),
        None => Vec::new(),
    };
    // Statements are checked against identities: serve the members whenever another user
    // signed something or holds a statement.
    let others =
        signers.iter().any(|s| s.user_id != user) || roles.iter().any(|r| r.user_id != user);
    // Each signer's user's device chain: clients trust a signer only while it verifies.
    let signer_users: BTreeSet<UserId> = signers.iter().map(|s| s.user_id).collect();
    let mut signer_chains = Vec::with_capacity(signer_users.len());
    for u in signer_users {
        signer_chains.push(SignerChain {
            user_id: u,
            links: snap.device_chain(u).await?.into_iter().map(B64).collect(),
        });
    }
    let peers = match v.workspace_id {
        Some(ws) if others => snap
            .workspace_members(ws)
            .await?
            .into_iter()
            .map(crate::workspaces::member_info)
            .collect(),
        _ => Vec::new(),
    };
    let header = SyncVault {
        vault_id: v.id,
        workspace_id: v.workspace_id,
        epoch: v.epoch,
        counter: v.counter,
        role: m.role,
        full,
        manifest: B64(v.manifest.clone()),
        grants: grants
            .into_iter()
            .map(|g| VaultGrant {
                recipient: g.recipient,
                epoch: g.epoch,
                grant: B64(g.grant),
            })
            .collect(),
        signers,
        peers,
        rotation_due: v.rotation_due,
        roles,
        signer_chains,
    };
    let json = serde_json::to_vec(&header).map_err(ServerError::internal)?;
    out.frame(SyncFrameKind::Vault, &json).await?;

    let selection = if full {
        ItemSelection::Live
    } else {
        ItemSelection::ChangedAfter(held)
    };
    let mut sent = 0u64;
    let mut after = None;
    let mut payload = Vec::new();
    loop {
        let page = snap.items_page(v.id, selection, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.counter, last.item_id));
        let short = page.len() < PAGE as usize;
        // one value-store query per page, not one per item
        let pointers: Vec<_> = page
            .iter()
            .filter(|r| !r.deleted)
            .filter_map(|r| r.value)
            .collect();
        let values = state.values.get_many(&pointers).await?;
        for row in page {
            payload.clear();
            payload.extend_from_slice(row.item_id.as_uuid().as_bytes());
            payload.extend_from_slice(&row.revision.to_be_bytes());
            payload.extend_from_slice(&row.epoch.to_be_bytes());
            payload.extend_from_slice(&row.counter.to_be_bytes());
            match row.value {
                Some(p) if !row.deleted => {
                    payload.push(0);
                    let stored = values.get(&p).ok_or_else(|| {
                        ServerError::internal(format!("item {}: its value is missing", row.item_id))
                    })?;
                    let sealed = state.open_stored(p, stored).await?;
                    payload.extend_from_slice(sealed.expose_secret());
                }
                _ => payload.push(SYNC_ITEM_DELETED),
            }
            out.frame(SyncFrameKind::Item, &payload).await?;
            sent += 1;
        }
        if short {
            break;
        }
    }
    Ok(sent)
}
