//! Sessions: random 256-bit bearer tokens of which only the SHA-256 hash is stored, each bound
//! to one device; the [`Caller`] extractor that authenticates a request; and the session
//! handlers (`refresh`, `logout`, `GET /v1/sessions`, `DELETE /v1/sessions/{id}`, `status`).
//!
//! A token is checked against the main store on every request, so a revoked session — or any
//! session of a revoked device, which the store revokes in the same transaction — stops
//! working at once. A session of a user with MFA on starts *MFA-pending*: [`Caller`] refuses
//! it with `403 mfa_required`; only the handlers that take [`PendingCaller`] accept it.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_proto::api::{SessionInfo, SessionToken, StatusResponse};
use coffer_proto::{DeviceId, SessionId, UserId};
use coffer_store::{AuditEvent, NewSession, Session, StoreError};
use sha2::{Digest as _, Sha256};

use crate::error::{ApiResult, ServerError};
use crate::extract::{ClientAddr, Json, Path};
use crate::state::AppState;

/// Don't write `last_used_at` more often than this (seconds).
const TOUCH_EVERY: i64 = 60;

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A fresh bearer token (32 random bytes, base64url) and its SHA-256 hash.
pub fn new_token() -> Result<(String, Vec<u8>), ServerError> {
    let bytes: [u8; 32] = coffer_crypto::secret::random_array().map_err(ServerError::internal)?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    Ok((token, hash))
}

/// SHA-256 of the token text: what the store keeps.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A session to store for `user` on `device`, and its bearer token.
pub fn new_session(
    state: &AppState,
    user: UserId,
    device: DeviceId,
    mfa_verified: bool,
) -> ApiResult<(NewSession, SessionToken)> {
    let (token, token_hash) = new_token()?;
    let ttl = i64::try_from(state.session_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let new = NewSession {
        id: SessionId::new_random(),
        token_hash,
        user_id: user,
        device_id: device,
        expires_at: now().saturating_add(ttl),
        mfa_verified,
    };
    let out = SessionToken {
        session_id: new.id,
        token,
        expires_at: new.expires_at,
    };
    Ok((new, out))
}

/// Creates a session for `user` on `device` and returns its token.
pub async fn create_session(
    state: &AppState,
    user: UserId,
    device: DeviceId,
    mfa_verified: bool,
    audit: Option<&AuditEvent>,
) -> ApiResult<SessionToken> {
    let (new, token) = new_session(state, user, device, mfa_verified)?;
    state.main.create_session(&new, audit).await?;
    Ok(token)
}

/// The authenticated caller of a request, whatever its MFA state.
#[derive(Debug, Clone)]
pub struct PendingCaller {
    /// The user.
    pub user_id: UserId,
    /// The session's device.
    pub device_id: DeviceId,
    /// The session.
    pub session: Session,
    /// The session still owes its MFA step.
    pub mfa_pending: bool,
    /// The client's address.
    pub addr: Option<std::net::IpAddr>,
}

impl PendingCaller {
    /// An audit event acted by this caller.
    pub fn event(&self, action: &str, target: impl Into<String>) -> AuditEvent {
        let e = AuditEvent::new(action, target).actor(self.user_id, Some(self.device_id));
        match self.addr {
            Some(a) => e.remote_addr(a.to_string()),
            None => e,
        }
    }
}

/// The authenticated caller of a request, MFA done (or not needed).
#[derive(Debug, Clone)]
pub struct Caller(pub PendingCaller);

impl std::ops::Deref for Caller {
    type Target = PendingCaller;
    fn deref(&self) -> &PendingCaller {
        &self.0
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

impl FromRequestParts<AppState> for PendingCaller {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = bearer(parts).ok_or(ServerError::Unauthenticated)?;
        let t = now();
        let session = match state
            .main
            .live_session_by_token_hash(&hash_token(token), t)
            .await
        {
            Ok(s) => s,
            Err(StoreError::NotFound) => return Err(ServerError::Unauthenticated),
            Err(e) => return Err(e.into()),
        };
        if t - session.last_used_at >= TOUCH_EVERY {
            // Best effort: a failed touch must not fail the request.
            if let Err(e) = state.main.touch_session(session.id, t, None).await {
                tracing::warn!(error = %e, "touch session");
            }
            if let Err(e) = state.main.touch_device(session.device_id, t, None).await {
                tracing::warn!(error = %e, "touch device");
            }
        }
        let ClientAddr(addr) = match ClientAddr::from_request_parts(parts, state).await {
            Ok(a) => a,
            Err(never) => match never {},
        };
        Ok(PendingCaller {
            user_id: session.user_id,
            device_id: session.device_id,
            mfa_pending: !session.mfa_verified,
            session,
            addr,
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let c = PendingCaller::from_request_parts(parts, state).await?;
        if c.mfa_pending {
            return Err(ServerError::MfaRequired(
                "this session must complete MFA first (POST /v1/auth/mfa)",
            ));
        }
        Ok(Caller(c))
    }
}

/// `GET /v1/status`: who the session is.
#[utoipa::path(get, path = "/v1/status", tag = "sessions",
    responses((status = 200, body = StatusResponse)), security(("bearer" = [])))]
pub async fn status(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: PendingCaller,
) -> ApiResult<Json<StatusResponse>> {
    let user = state.main.user(caller.user_id).await?;
    Ok(Json(StatusResponse {
        user_id: caller.user_id,
        email: user.email,
        device_id: caller.device_id,
        session_id: caller.session.id,
        mfa_pending: caller.mfa_pending,
        mfa_enabled: user.mfa.enabled,
        expires_at: caller.session.expires_at,
    }))
}

/// `POST /v1/auth/refresh`: a new token for the same device; the old session is revoked.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "sessions",
    responses((status = 200, body = SessionToken)), security(("bearer" = [])))]
pub async fn refresh(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SessionToken>> {
    let event = caller.event("session.refresh", caller.session.id.to_string());
    let fresh = create_session(&state, caller.user_id, caller.device_id, true, None).await?;
    state
        .main
        .revoke_session(caller.session.id, Some(&event))
        .await?;
    Ok(Json(fresh))
}

/// `POST /v1/auth/logout`: revokes the caller's session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "sessions",
    responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: PendingCaller,
) -> ApiResult<StatusCode> {
    let event = caller.event("auth.logout", caller.session.id.to_string());
    state
        .main
        .revoke_session(caller.session.id, Some(&event))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/sessions`: the caller's live sessions.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions",
    responses((status = 200, body = Vec<SessionInfo>)), security(("bearer" = [])))]
pub async fn list(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    let t = now();
    let sessions = state.main.list_sessions(caller.user_id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .filter(|s| s.is_live(t))
            .map(|s| SessionInfo {
                current: s.id == caller.session.id,
                session_id: s.id,
                device_id: s.device_id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
            })
            .collect(),
    ))
}

/// `DELETE /v1/sessions/{id}`: revokes one of the caller's sessions.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = SessionId, Path, description = "session id")),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn revoke(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
) -> ApiResult<StatusCode> {
    let s = match state.main.session(id).await {
        Ok(s) if s.user_id == caller.user_id => s,
        Ok(_) | Err(StoreError::NotFound) => return Err(ServerError::NotFound("session")),
        Err(e) => return Err(e.into()),
    };
    let event = caller.event("session.revoke", s.id.to_string());
    state.main.revoke_session(s.id, Some(&event)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, hb) = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(ha, hash_token(&a));
        assert_ne!(ha, hb);
        assert_eq!(ha.len(), 32);
    }
}
