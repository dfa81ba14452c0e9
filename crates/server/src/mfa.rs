//! TOTP multi-factor authentication: enrolment (secret generated here, sealed in the value
//! store under the data-key layer — the user row holds only its pointer), confirmation (MFA on,
//! ten one-time recovery codes, stored as hashes), verification of an MFA-pending session with
//! a code (±1 time step) or a recovery code (each usable once), and disabling with a code.
//!
//! Wrong codes count towards the login throttle under the key `mfa:<user id>`, so six-digit
//! codes cannot be guessed online.

use axum::extract::State;
use axum::http::StatusCode;
use coffer_crypto::otp::{self, OtpAlgorithm, Totp};
use coffer_proto::UserId;
use coffer_proto::api::{MfaCodeRequest, MfaConfirmResponse, MfaEnrollResponse, MfaVerifyRequest};
use coffer_store::{MfaSettings, User, ValuePointer};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::{ApiResult, ServerError};
use crate::extract::Json;
use crate::session::{Caller, PendingCaller, now};
use crate::state::AppState;

/// Number of recovery codes made at confirmation.
pub const RECOVERY_CODES: usize = 10;
/// Issuer shown by authenticator apps.
const ISSUER: &str = "Coffer";
const PERIOD: u64 = 30;
/// Characters of recovery codes (no 0/o, 1/l/i).
const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

fn throttle_key(user: UserId) -> String {
    format!("mfa:{user}")
}

fn pointer_of(bytes: &[u8]) -> ApiResult<ValuePointer> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ServerError::internal("stored TOTP pointer has the wrong length"))?;
    Ok(ValuePointer::from_bytes(arr))
}

async fn load_totp(state: &AppState, user: &User) -> ApiResult<Totp> {
    let p = user
        .mfa
        .totp_secret
        .as_deref()
        .ok_or(ServerError::Conflict(
            "no TOTP enrolment: enrol first".into(),
        ))?;
    let secret = state.open_sealed(pointer_of(p)?).await?;
    Totp::new(secret, OtpAlgorithm::Sha1, otp::DEFAULT_DIGITS, PERIOD)
        .map_err(ServerError::internal)
}

/// Whether `code` is the TOTP code of the current time step or one step either side.
pub fn totp_matches(totp: &Totp, code: &str, unix: u64) -> bool {
    let code = code.trim();
    let mut ok = false;
    for t in [
        unix.saturating_sub(PERIOD),
        unix,
        unix.saturating_add(PERIOD),
    ] {
        if let Ok(expected) = totp.code_at(t) {
            ok |= bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
        }
    }
    ok
}

/// Normalises a recovery code as typed (case, dashes and spaces ignored) and hashes it.
pub fn hash_recovery_code(user: UserId, code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    let mut h = Sha256::new();
    h.update(b"coffer.recovery-code.v1");
    h.update(user.as_uuid().as_bytes());
    h.update(normal.as_bytes());
    h.finalize().to_vec()
}

fn new_recovery_code() -> ApiResult<String> {
    let raw: [u8; 10] = coffer_crypto::secret::random_array().map_err(ServerError::internal)?;
    let mut s = String::with_capacity(11);
    for (i, b) in raw.iter().enumerate() {
        if i == 5 {
            s.push('-');
        }
        // 256 is not a multiple of 31: the bias (< 1 %) costs well under a bit of the ~49.
        let idx = usize::from(*b) % CODE_ALPHABET.len();
        s.push(char::from(CODE_ALPHABET[idx]));
    }
    Ok(s)
}

fn unix_now() -> u64 {
    u64::try_from(now()).unwrap_or(0)
}

/// Checks a TOTP code for `user` under the throttle; a wrong one is audited and counted.
async fn check_code(
    state: &AppState,
    caller: &PendingCaller,
    user: &User,
    code: &str,
) -> ApiResult<()> {
    let key = throttle_key(user.id);
    state.throttle.check(&key, None)?;
    let totp = load_totp(state, user).await?;
    if totp_matches(&totp, code, unix_now()) {
        return Ok(());
    }
    wrong_code(state, caller, "totp").await
}

async fn wrong_code<T>(state: &AppState, caller: &PendingCaller, kind: &str) -> ApiResult<T> {
    state
        .throttle
        .record_failure(&throttle_key(caller.user_id), caller.addr);
    let event = caller
        .event("auth.mfa_failed", caller.user_id.to_string())
        .details(serde_json::json!({ "kind": kind }));
    if let Err(e) = state.main.append_audit(&event).await {
        tracing::error!(error = %e, "audit of a failed MFA check");
    }
    Err(ServerError::WrongCode)
}

/// `POST /v1/mfa/enroll`: a new TOTP secret, pending until confirmed.
#[utoipa::path(post, path = "/v1/mfa/enroll", tag = "mfa",
    responses((status = 200, body = MfaEnrollResponse)), security(("bearer" = [])))]
pub async fn enroll(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<MfaEnrollResponse>> {
    let user = state.main.user(caller.user_id).await?;
    if user.mfa.enabled {
        return Err(ServerError::Conflict("MFA is already enabled".into()));
    }
    let secret = otp::generate_secret().map_err(ServerError::internal)?;
    let pointer = state.put_sealed(secret.expose_secret()).await?;
    let totp = Totp::new(secret, OtpAlgorithm::Sha1, otp::DEFAULT_DIGITS, PERIOD)
        .and_then(|t| t.with_issuer(ISSUER))
        .and_then(|t| t.with_account(&user.email))
        .map_err(ServerError::internal)?;
    let settings = MfaSettings {
        totp_secret: Some(pointer.as_bytes().to_vec()),
        enabled: false,
    };
    let event = caller.event("mfa.enroll", caller.user_id.to_string());
    state
        .main
        .set_mfa(caller.user_id, &settings, Some(&event))
        .await?;
    if let Some(old) = user.mfa.totp_secret.as_deref() {
        state.delete_sealed(pointer_of(old)?).await?;
    }
    Ok(Json(MfaEnrollResponse {
        otpauth_uri: totp.to_uri().to_string(),
    }))
}

/// `POST /v1/mfa/confirm`: turns MFA on and returns ten recovery codes (shown once).
#[utoipa::path(post, path = "/v1/mfa/confirm", tag = "mfa", request_body = MfaCodeRequest,
    responses((status = 200, body = MfaConfirmResponse),
              (status = 401, body = coffer_proto::ApiError)), security(("bearer" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<MfaCodeRequest>,
) -> ApiResult<Json<MfaConfirmResponse>> {
    let user = state.main.user(caller.user_id).await?;
    if user.mfa.enabled {
        return Err(ServerError::Conflict("MFA is already enabled".into()));
    }
    check_code(&state, &caller, &user, &req.code).await?;
    let codes = (0..RECOVERY_CODES)
        .map(|_| new_recovery_code())
        .collect::<ApiResult<Vec<_>>>()?;
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| hash_recovery_code(user.id, c))
        .collect();
    state
        .main
        .replace_recovery_codes(user.id, &hashes, None)
        .await?;
    let settings = MfaSettings {
        totp_secret: user.mfa.totp_secret.clone(),
        enabled: true,
    };
    let event = caller.event("mfa.enable", user.id.to_string());
    state.main.set_mfa(user.id, &settings, Some(&event)).await?;
    Ok(Json(MfaConfirmResponse {
        recovery_codes: codes,
    }))
}

/// `POST /v1/auth/mfa`: completes an MFA-pending session with a code or a recovery code.
#[utoipa::path(post, path = "/v1/auth/mfa", tag = "auth", request_body = MfaVerifyRequest,
    responses((status = 204), (status = 401, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    caller: PendingCaller,
    Json(req): Json<MfaVerifyRequest>,
) -> ApiResult<StatusCode> {
    let user = state.main.user(caller.user_id).await?;
    if !user.mfa.enabled {
        return Err(ServerError::Conflict("MFA is not enabled".into()));
    }
    let kind = match (&req.code, &req.recovery_code) {
        (Some(code), None) => {
            check_code(&state, &caller, &user, code).await?;
            "totp"
        }
        (None, Some(rc)) => {
            state.throttle.check(&throttle_key(user.id), None)?;
            let used = state
                .main
                .consume_recovery_code(user.id, &hash_recovery_code(user.id, rc), None)
                .await?;
            if !used {
                return wrong_code(&state, &caller, "recovery_code").await;
            }
            "recovery_code"
        }
        _ => {
            return Err(ServerError::BadRequest(
                "give exactly one of code and recovery_code".into(),
            ));
        }
    };
    state.throttle.record_success(&throttle_key(user.id));
    let event = caller
        .event("auth.mfa_verified", caller.session.id.to_string())
        .details(serde_json::json!({ "kind": kind }));
    state
        .main
        .mark_session_mfa_verified(caller.session.id, Some(&event))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/mfa/disable`: turns MFA off (needs a current code).
#[utoipa::path(post, path = "/v1/mfa/disable", tag = "mfa", request_body = MfaCodeRequest,
    responses((status = 204), (status = 401, body = coffer_proto::ApiError)),
    security(("bearer" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<MfaCodeRequest>,
) -> ApiResult<StatusCode> {
    let user = state.main.user(caller.user_id).await?;
    if !user.mfa.enabled {
        return Err(ServerError::Conflict("MFA is not enabled".into()));
    }
    check_code(&state, &caller, &user, &req.code).await?;
    let settings = MfaSettings {
        totp_secret: None,
        enabled: false,
    };
    let event = caller.event("mfa.disable", user.id.to_string());
    state.main.set_mfa(user.id, &settings, Some(&event)).await?;
    state
        .main
        .replace_recovery_codes(user.id, &[], None)
        .await?;
    if let Some(p) = user.mfa.totp_secret.as_deref() {
        state.delete_sealed(pointer_of(p)?).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use coffer_crypto::SecretVec;

    use super::*;

    #[test]
    fn totp_window_is_one_step_each_side() {
        let totp = Totp::new(
            SecretVec::from_slice(b"12345678901234567890"),
            OtpAlgorithm::Sha1,
            6,
            30,
        )
        .unwrap();
        let t = 1_000_000_000u64;
        let now_code = totp.code_at(t).unwrap();
        assert!(totp_matches(&totp, &now_code, t));
        assert!(totp_matches(&totp, &totp.code_at(t - 30).unwrap(), t));
        assert!(totp_matches(&totp, &totp.code_at(t + 30).unwrap(), t));
        assert!(!totp_matches(&totp, &totp.code_at(t - 90).unwrap(), t));
        assert!(!totp_matches(&totp, "", t));
    }

    #[test]
    fn recovery_codes_normalise() {
        let u = UserId::new_random();
        let c = new_recovery_code().unwrap();
        assert_eq!(c.len(), 11);
        assert_eq!(
            hash_recovery_code(u, &c),
            hash_recovery_code(u, &c.to_uppercase().replace('-', " "))
        );
        assert_ne!(
            hash_recovery_code(u, &c),
            hash_recovery_code(UserId::new_random(), &c)
        );
    }
}
