//! Reading the audit log over HTTP: a workspace's entries (owners and admins) and the
//! verification of the whole hash chain. Appending is not done here: every change appends its
//! event through the store, in the same transaction as the change.

use axum::extract::State;
use coffer_proto::WorkspaceId;
use coffer_proto::api::{AuditEntry, AuditVerifyResponse};
use coffer_store::AuditVerdict;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::policy::Action;
use crate::session::Caller;
use crate::state::AppState;
use crate::workspaces::membership;

/// Default page size of `GET /v1/workspaces/{ws}/audit`.
const DEFAULT_LIMIT: u32 = 100;

/// Query of `GET /v1/workspaces/{ws}/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Only entries with a larger sequence number.
    #[serde(default)]
    pub after: u64,
    /// At most this many entries (default 100, at most 1000).
    pub limit: Option<u32>,
}

fn to_api(e: coffer_store::AuditEntry) -> AuditEntry {
    AuditEntry {
        seq: i64::try_from(e.seq).unwrap_or(i64::MAX),
        time: e.at,
        workspace_id: e.workspace_id,
        actor_user_id: e.actor_user_id,
        actor_device_id: e.actor_device_id,
        action: e.action,
        target: e.target,
        details: e.details,
        remote_addr: e.remote_addr,
        hash: hex::encode(e.hash),
    }
}

/// `GET /v1/workspaces/{ws}/audit?after=SEQ&limit=N`.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/audit", tag = "audit",
    params(("ws" = WorkspaceId, Path, description = "workspace id"), AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>),
              (status = 403, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<WorkspaceId>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let m = membership(&state, &caller, ws).await?;
    crate::policy::authorize(m.role, Action::ReadAudit)
        .map_err(|_| crate::ServerError::Forbidden("your role does not allow this"))?;
    let entries = state
        .main
        .list_audit(Some(ws), q.after, q.limit.unwrap_or(DEFAULT_LIMIT))
        .await?;
    Ok(Json(entries.into_iter().map(to_api).collect()))
}

/// `GET /v1/audit/verify`: recomputes the whole chain.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = AuditVerifyResponse)), security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<AuditVerifyResponse>> {
    let verdict = state.main.verify_audit_chain().await?;
    Ok(Json(match verdict {
        AuditVerdict::Intact { entries, .. } => AuditVerifyResponse {
            ok: true,
            entries: i64::try_from(entries).unwrap_or(i64::MAX),
            first_broken: None,
        },
        AuditVerdict::Broken { seq, .. } => AuditVerifyResponse {
            ok: false,
            entries: i64::try_from(seq.saturating_sub(1)).unwrap_or(i64::MAX),
            first_broken: Some(i64::try_from(seq).unwrap_or(i64::MAX)),
        },
    }))
}
