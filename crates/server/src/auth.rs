//! OPAQUE registration and login (`docs/api.md`, "Unauthenticated").
//!
//! - Registration is stateless on the server: `register/start` evaluates the OPRF,
//!   `register/finish` stores the password file with the account keys, creates the first
//!   (trusted) device and a session.
//! - Login keeps OPAQUE's server state in memory for 60 s under a random `login_id`, used once.
//!   An unknown email is answered from OPAQUE's fake record, with the default KSF parameters,
//!   so the answer has the same shape; its `finish` then fails like a wrong password: the same
//!   `401 unauthorized` with the same message. Every failure appends `auth.login_failed` and
//!   counts towards the throttle (per account and per address).
//!
//! The stored OPAQUE record is the password file followed by the account's KSF parameters:
//! `password file (193 bytes) ‖ m_kib:u32 BE ‖ t:u32 BE ‖ p:u32 BE`.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::CryptoError;
use coffer_crypto::chain::DeviceCertificate;
use coffer_crypto::identity::PublicKeys;
use coffer_crypto::opaque::{self, UserId as OpaqueUser};
use coffer_proto::api::{
    AccountKeys, B64, DeviceRef, KsfParams, LoginFinishRequest, LoginResult, LoginStartRequest,
    LoginStartResponse, NewDevice as ApiNewDevice, OPAQUE_LOGIN_CONTEXT, RegisterFinishRequest,
    RegisterStartRequest, RegisterStartResponse, ResetFinishRequest, ResetStartRequest,
    ResetStartResponse,
};
use coffer_proto::{DeviceId, DeviceState, UserId};
use coffer_store::{
    AuditEvent, Credentials, NewDevice, NewUser, PasswordReset, StoreError, User, ValuePointer,
};

use crate::error::{ApiResult, ServerError};
use crate::extract::{ClientAddr, Json};
use crate::metrics;
use crate::session::{Caller, create_session, new_session};
use crate::state::{AppState, PendingLogin};

const KSF_SUFFIX_LEN: usize = 12;
/// Longest device name accepted.
const MAX_NAME_LEN: usize = 128;

/// Normalises and checks an email as OPAQUE names the user.
fn opaque_user(email: &str) -> ApiResult<OpaqueUser> {
    OpaqueUser::from_email(email)
        .map_err(|_| ServerError::BadRequest("email: not a valid address".into()))
}

fn crypto_bad_request(what: &'static str) -> impl Fn(CryptoError) -> ServerError {
    move |e| match e {
        CryptoError::Malformed { .. }
        | CryptoError::Length(_)
        | CryptoError::Truncated { .. }
        | CryptoError::UnknownVersion { .. }
        | CryptoError::BadEncoding { .. } => ServerError::BadRequest(format!("{what}: malformed")),
        other => ServerError::internal(other),
    }
}

fn encode_record(password_file: &[u8], ksf: &KsfParams) -> Vec<u8> {
    let mut out = Vec::with_capacity(password_file.len() + KSF_SUFFIX_LEN);
    out.extend_from_slice(password_file);
    out.extend_from_slice(&ksf.m_kib.to_be_bytes());
    out.extend_from_slice(&ksf.t.to_be_bytes());
    out.extend_from_slice(&ksf.p.to_be_bytes());
    out
}

fn decode_record(record: &[u8]) -> ApiResult<(&[u8], KsfParams)> {
    let split = record
        .len()
        .checked_sub(KSF_SUFFIX_LEN)
        .ok_or_else(|| ServerError::internal("stored OPAQUE record too short"))?;
    let (file, ksf) = record.split_at(split);
    let word = |i: usize| -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&ksf[i * 4..i * 4 + 4]);
        u32::from_be_bytes(b)
    };
    Ok((
        file,
        KsfParams {
            m_kib: word(0),
            t: word(1),
            p: word(2),
        },
    ))
}

fn default_ksf() -> KsfParams {
    let d = opaque::KsfParams::DEFAULT;
    KsfParams {
        m_kib: d.m_kib(),
        t: d.t(),
        p: d.p(),
    }
}

/// Checks a registration upload and the account keys sent with it (KSF parameters at or above
/// the floor, valid identity keys, a non-empty bundle) and builds the credentials to store.
fn account_credentials(upload: &B64, account: &AccountKeys) -> ApiResult<Credentials> {
    let file = opaque::server_register_finish(&upload.0).map_err(crypto_bad_request("upload"))?;
    let k = &account.ksf;
    opaque::KsfParams::new(k.m_kib, k.t, k.p)
        .map_err(|e| ServerError::BadRequest(format!("account.ksf: {e}")))?;
    PublicKeys::from_bytes(&account.identity_public.0).map_err(|_| {
        ServerError::BadRequest("account.identity_public: not 64 bytes of valid keys".into())
    })?;
    if account.bundle.0.is_empty() {
        return Err(ServerError::BadRequest("account.bundle: empty".into()));
    }
    Ok(Credentials {
        opaque_record: encode_record(&file, k),
        account_key_bundle: account.bundle.0.clone(),
        identity_public_keys: account.identity_public.0.clone(),
        signed_account_state: account.account_state.0.clone(),
    })
}

/// Checks a device the client is adding: a name and valid public keys.
fn check_new_device(d: &ApiNewDevice) -> ApiResult<()> {
    if d.name.trim().is_empty() || d.name.len() > MAX_NAME_LEN {
        return Err(ServerError::BadRequest(
            "device.name: 1 to 128 bytes".into(),
        ));
    }
    PublicKeys::from_bytes(&d.public_keys.0).map_err(|_| {
        ServerError::BadRequest("device.public_keys: not 64 bytes of valid public keys".into())
    })?;
    Ok(())
}

/// A device to store, with a fresh server share already sealed in the value store (the device
/// row holds its pointer). If storing the device fails, delete the share with
/// [`AppState::delete_sealed`].
async fn prepare_device(
    state: &AppState,
    user: UserId,
    id: DeviceId,
    d: &ApiNewDevice,
    device_state: DeviceState,
) -> ApiResult<(NewDevice, ValuePointer)> {
    let share: [u8; 32] = coffer_crypto::secret::random_array().map_err(ServerError::internal)?;
    let share = zeroize::Zeroizing::new(share);
    let pointer = state.put_sealed(share.as_slice()).await?;
    let new = NewDevice {
        id,
        user_id: user,
        name: d.name.trim().to_owned(),
        public_keys: d.public_keys.0.clone(),
        certificate: d.certificate.as_ref().map(|c| c.0.clone()),
        state: device_state,
        server_share: pointer.as_bytes().to_vec(),
    };
    Ok((new, pointer))
}

/// Checks a device certificate, if the client sent one: it must parse, be issued by `identity`
/// (the signing half of the identity public keys) and certify exactly the device's public keys.
/// Returns the user and device ids it names, which the server then uses (so the certificate
/// and the stored ids agree).
fn certified_ids(d: &ApiNewDevice, identity: &[u8]) -> ApiResult<Option<(UserId, DeviceId)>> {
    let Some(cert) = &d.certificate else {
        return Ok(None);
    };
    let bad = |why: &str| ServerError::BadRequest(format!("device.certificate: {why}"));
    let cert = DeviceCertificate::from_bytes(&cert.0).map_err(|_| bad("malformed"))?;
    let identity = PublicKeys::from_bytes(identity).map_err(|_| bad("no identity key"))?;
    cert.verify(&identity)
        .map_err(|_| bad("not signed by the identity key"))?;
    if cert.device_keys().to_bytes().as_slice() != d.public_keys.0.as_slice() {
        return Err(bad("certifies other public keys"));
    }
    Ok(Some((
        UserId::from_uuid(uuid::Uuid::from_bytes(*cert.user_id())),
        DeviceId::from_uuid(uuid::Uuid::from_bytes(*cert.device_id())),
    )))
}

fn addr_event(e: AuditEvent, addr: Option<std::net::IpAddr>) -> AuditEvent {
    match addr {
        Some(a) => e.remote_addr(a.to_string()),
        None => e,
    }
}

/// `POST /v1/auth/register/start`.
#[utoipa::path(post, path = "/v1/auth/register/start", tag = "auth",
    request_body = RegisterStartRequest,
    responses((status = 200, body = RegisterStartResponse),
              (status = 409, body = coffer_proto::ApiError)))]
pub async fn register_start(
    State(state): State<AppState>,
    Json(req): Json<RegisterStartRequest>,
) -> ApiResult<Json<RegisterStartResponse>> {
    let user = opaque_user(&req.email)?;
    match state.main.user_by_email(user.as_str()).await {
        Ok(_) => return Err(ServerError::Conflict("email already registered".into())),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let response = opaque::server_register_start(&state.opaque, &req.request.0, &user)
        .map_err(crypto_bad_request("request"))?;
    Ok(Json(RegisterStartResponse {
        response: B64(response),
    }))
}

/// `POST /v1/auth/register/finish`: creates the account, its first (trusted) device and a
/// session.
#[utoipa::path(post, path = "/v1/auth/register/finish", tag = "auth",
    request_body = RegisterFinishRequest,
    responses((status = 201, body = LoginResult),
              (status = 409, body = coffer_proto::ApiError)))]
pub async fn register_finish(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<RegisterFinishRequest>,
) -> ApiResult<(StatusCode, Json<LoginResult>)> {
    let user = opaque_user(&req.email)?;
    let credentials = account_credentials(&req.upload, &req.account)?;
    check_new_device(&req.device)?;

    // A self-certified first device names the user and device ids it was certified for.
    let (user_id, device_id) = certified_ids(&req.device, &req.account.identity_public.0)?
        .unwrap_or_else(|| (UserId::new_random(), DeviceId::new_random()));
    let chain_link = req.device.chain_link.as_ref().ok_or_else(|| {
        ServerError::BadRequest(
            "device.chain_link: required: the genesis link of the device chain, adding this \
             device (protocol.md §14.5)"
                .into(),
        )
    })?;

    let new = NewUser {
        id: user_id,
        email: user.as_str().to_owned(),
        credentials,
    };
    let (device, pointer) = prepare_device(
        &state,
        user_id,
        device_id,
        &req.device,
        DeviceState::Trusted,
    )
    .await?;
    let (session_row, session) = new_session(&state, user_id, device.id, true)?;
    let event = addr_event(
        AuditEvent::new("user.register", user_id.to_string())
            .actor(user_id, Some(device.id))
            .details(serde_json::json!({
                "device_id": device.id.to_string(),
                "session_id": session_row.id.to_string(),
            })),
        addr,
    );
    // user, first device and session in one transaction
    if let Err(e) = state
        .main
        .register_account_chained(
            &new,
            &device,
            Some(&session_row),
            &chain_link.0,
            Some(&event),
        )
        .await
    {
        state.delete_sealed(pointer).await?;
        return Err(match e {
            StoreError::Conflict(m) if m.starts_with("chain link") => ServerError::Conflict(m),
            StoreError::Conflict(_) => ServerError::Conflict("email already registered".into()),
            e => e.into(),
        });
    }
    Ok((
        StatusCode::CREATED,
        Json(LoginResult {
            user_id,
            device_id: device.id,
            device_state: DeviceState::Trusted,
            session,
            mfa_pending: false,
        }),
    ))
}

/// `POST /v1/auth/login/start`.
#[utoipa::path(post, path = "/v1/auth/login/start", tag = "auth",
    request_body = LoginStartRequest,
    responses((status = 200, body = LoginStartResponse),
              (status = 429, body = coffer_proto::ApiError)))]
pub async fn login_start(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<LoginStartRequest>,
) -> ApiResult<Json<LoginStartResponse>> {
    let user = opaque_user(&req.email)?;
    if let Err(e) = state.throttle.check(user.as_str(), addr) {
        ::metrics::counter!(metrics::RATE_LIMITED).increment(1);
        return Err(e);
    }
    let found = match state.main.user_by_email(user.as_str()).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let (file, ksf) = match &found {
        Some(u) => {
            let (file, ksf) = decode_record(&u.credentials.opaque_record)?;
            (Some(file), ksf)
        }
        None => (None, default_ksf()),
    };
    let (login_state, response) = opaque::server_login_start(
        &state.opaque,
        file,
        &req.request.0,
        &user,
        OPAQUE_LOGIN_CONTEXT,
    )
    .map_err(crypto_bad_request("request"))?;
    let id: [u8; 16] = coffer_crypto::secret::random_array().map_err(ServerError::internal)?;
    let login_id = URL_SAFE_NO_PAD.encode(id);
    let pending = PendingLogin {
        state: login_state,
        email: user.as_str().to_owned(),
        user: found.as_ref().map(|u: &User| u.id),
    };
    if !state.logins.insert(login_id.clone(), pending) {
        return Err(ServerError::RateLimited { retry_after: 60 });
    }
    Ok(Json(LoginStartResponse {
        login_id,
        response: B64(response),
        ksf,
    }))
}

/// Records a failed login: audit entry, throttle, metric; returns the one `401`.
async fn login_failed(
    state: &AppState,
    email: &str,
    user: Option<UserId>,
    addr: Option<std::net::IpAddr>,
) -> ServerError {
    state.throttle.record_failure(email, addr);
    ::metrics::counter!(metrics::LOGIN_FAILURES).increment(1);
    let mut event = addr_event(
        AuditEvent::new("auth.login_failed", email)
            .details(serde_json::json!({ "known_user": user.is_some() })),
        addr,
    );
    event.actor_user_id = user;
    if let Err(e) = state.main.append_audit(&event).await {
        tracing::error!(error = %e, "audit of a failed login");
    }
    ServerError::LoginFailed
}

/// `POST /v1/auth/login/finish`.
#[utoipa::path(post, path = "/v1/auth/login/finish", tag = "auth",
    request_body = LoginFinishRequest,
    responses((status = 200, body = LoginResult),
              (status = 401, body = coffer_proto::ApiError),
              (status = 429, body = coffer_proto::ApiError)))]
pub async fn login_finish(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<LoginFinishRequest>,
) -> ApiResult<Json<LoginResult>> {
    let Some(pending) = state.logins.take(&req.login_id) else {
        // Unknown, expired or already used: nothing to tie it to but the address.
        return Err(login_failed(&state, "", None, addr).await);
    };
    let PendingLogin {
        state: login_state,
        email,
        user,
    } = pending;
    state.throttle.check(&email, addr)?;
    let verified = opaque::server_login_finish(login_state, &req.finalization.0);
    let user_id = match (verified, user) {
        (Ok(_), Some(u)) => u,
        _ => return Err(login_failed(&state, &email, user, addr).await),
    };
    state.throttle.record_success(&email);
    ::metrics::counter!(metrics::LOGINS).increment(1);
    let user = state.main.user(user_id).await?;

    let mfa_pending = user.mfa.enabled;
    let login_event = |device_id: DeviceId, new_device: bool| {
        addr_event(
            AuditEvent::new("auth.login", user_id.to_string())
                .actor(user_id, Some(device_id))
                .details(serde_json::json!({
                    "mfa_pending": mfa_pending,
                    "new_device": new_device,
                })),
            addr,
        )
    };
    let (device_id, device_state, session) = match &req.device {
        DeviceRef::Existing(id) => {
            let (id, st) = match state.main.device(*id).await {
                Ok(d) if d.user_id == user_id && d.state != DeviceState::Revoked => (d.id, d.state),
                Ok(d) if d.user_id == user_id => {
                    return Err(ServerError::Forbidden("this device is revoked"));
                }
                Ok(_) | Err(StoreError::NotFound) => return Err(ServerError::NotFound("device")),
                Err(e) => return Err(e.into()),
            };
            let event = login_event(id, false);
            let session = create_session(&state, user_id, id, !mfa_pending, Some(&event)).await?;
            (id, st, session)
        }
        DeviceRef::New(d) => {
            // a new device is pending; it and its session are stored in one transaction
            check_new_device(d)?;
            let id = match certified_ids(d, &user.credentials.identity_public_keys)? {
                Some((u, _)) if u != user_id => {
                    return Err(ServerError::BadRequest(
                        "device.certificate: issued for another user".into(),
                    ));
                }
                Some((_, id)) => id,
                None => DeviceId::new_random(),
            };
            let (device, pointer) =
                prepare_device(&state, user_id, id, d, DeviceState::Pending).await?;
            let (row, session) = new_session(&state, user_id, device.id, !mfa_pending)?;
            let event = login_event(device.id, true);
            if let Err(e) = state
                .main
                .create_device_with_session(&device, &row, Some(&event))
                .await
            {
                state.delete_sealed(pointer).await?;
                return Err(e.into());
            }
            (device.id, DeviceState::Pending, session)
        }
    };
    Ok(Json(LoginResult {
        user_id,
        device_id,
        device_state,
        session,
        mfa_pending,
    }))
}

/// `GET /v1/account`: the caller's account keys (the bundle stays sealed under the password KEK,
/// which the server never has).
#[utoipa::path(get, path = "/v1/account", tag = "auth",
    responses((status = 200, body = AccountKeys)), security(("bearer" = [])))]
pub async fn account(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<AccountKeys>> {
    let user = state.main.user(caller.user_id).await?;
    let (_, ksf) = decode_record(&user.credentials.opaque_record)?;
    let c = user.credentials;
    Ok(Json(AccountKeys {
        identity_public: B64(c.identity_public_keys),
        bundle: B64(c.account_key_bundle),
        account_state: B64(c.signed_account_state),
        ksf,
    }))
}

/// The refusal of every bad reset token: unknown, used, expired or for another email.
const RESET_REFUSED: &str =
    "reset token refused: it is unknown, used, expired or not for this email";

/// Finds the unused, unexpired reset of `token` and checks it is for `email`'s account.
async fn usable_reset(
    state: &AppState,
    email: &OpaqueUser,
    token: &str,
) -> ApiResult<(PasswordReset, User)> {
    let reset = match state
        .main
        .password_reset_by_token(&crate::session::hash_token(token))
        .await
    {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(ServerError::Forbidden(RESET_REFUSED)),
        Err(e) => return Err(e.into()),
    };
    if reset.used_at.is_some() || reset.expires_at <= crate::session::now() {
        return Err(ServerError::Forbidden(RESET_REFUSED));
    }
    let user = state.main.user(reset.user_id).await?;
    if user.email != email.as_str() {
        return Err(ServerError::Forbidden(RESET_REFUSED));
    }
    Ok((reset, user))
}

/// `POST /v1/auth/reset/start`: starts the OPAQUE registration of a new password with a reset
/// token (protocol.md §20).
#[utoipa::path(post, path = "/v1/auth/reset/start", tag = "auth",
    request_body = ResetStartRequest,
    responses((status = 200, body = ResetStartResponse),
              (status = 403, body = coffer_proto::ApiError)))]
pub async fn reset_start(
    State(state): State<AppState>,
    Json(req): Json<ResetStartRequest>,
) -> ApiResult<Json<ResetStartResponse>> {
    let email = opaque_user(&req.email)?;
    let (reset, _) = usable_reset(&state, &email, &req.token).await?;
    let response = opaque::server_register_start(&state.opaque, &req.request.0, &email)
        .map_err(crypto_bad_request("request"))?;
    Ok(Json(ResetStartResponse {
        user_id: reset.user_id,
        response: B64(response),
    }))
}

/// `POST /v1/auth/reset/finish`: stores the new password file, identity and first device, and
/// revokes everything bound to the old identity, in one transaction (protocol.md §20).
#[utoipa::path(post, path = "/v1/auth/reset/finish", tag = "auth",
    request_body = ResetFinishRequest,
    responses((status = 200, body = LoginResult),
              (status = 403, body = coffer_proto::ApiError),
              (status = 409, body = coffer_proto::ApiError)))]
pub async fn reset_finish(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<ResetFinishRequest>,
) -> ApiResult<Json<LoginResult>> {
    let email = opaque_user(&req.email)?;
    let (reset, user) = usable_reset(&state, &email, &req.token).await?;
    let credentials = account_credentials(&req.upload, &req.account)?;
    check_new_device(&req.device)?;
    let Some((cert_user, device_id)) = certified_ids(&req.device, &req.account.identity_public.0)?
    else {
        return Err(ServerError::BadRequest(
            "device.certificate: required (the new identity certifies the new device)".into(),
        ));
    };
    if cert_user != user.id {
        return Err(ServerError::BadRequest(
            "device.certificate: names another user".into(),
        ));
    }
    let Some(link) = req.device.chain_link.clone() else {
        return Err(ServerError::BadRequest(
            "device.chain_link: required (the genesis of the new identity's device chain)".into(),
        ));
    };
    let (device, pointer) = prepare_device(
        &state,
        user.id,
        device_id,
        &req.device,
        DeviceState::Trusted,
    )
    .await?;
    // The one-time token stands in for the password and the second factor (like an invite).
    let (session_row, session) = new_session(&state, user.id, device.id, true)?;
    let event = addr_event(
        AuditEvent::new("user.password_reset", user.id.to_string())
            .actor(user.id, Some(device.id))
            .details(serde_json::json!({
                "reset_id": reset.id.to_string(),
                "issued_by": reset.created_by.to_string(),
                "device_id": device.id.to_string(),
            })),
        addr,
    );
    let done = match state
        .main
        .complete_password_reset(
            reset.id,
            user.id,
            &credentials,
            (&device, &session_row, &link.0),
            Some(&event),
        )
        .await
    {
        Ok(done) => done,
        Err(e) => {
            state.delete_sealed(pointer).await?;
            return Err(match e {
                StoreError::Conflict(_) => ServerError::Forbidden(RESET_REFUSED),
                StoreError::Invalid(m) => {
                    ServerError::BadRequest(format!("device.chain_link: {m}"))
                }
                e => e.into(),
            });
        }
    };
    for share in done.dropped_shares {
        if let Err(e) = state.delete_sealed(share).await {
            tracing::warn!(error = %e, "could not delete a dropped recovery share");
        }
    }
    Ok(Json(LoginResult {
        user_id: user.id,
        device_id: done.device.id,
        device_state: DeviceState::Trusted,
        session,
        mfa_pending: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let ksf = KsfParams {
            m_kib: 19456,
            t: 2,
            p: 1,
        };
        let rec = encode_record(&[7u8; 193], &ksf);
        assert_eq!(rec.len(), 205);
        let (file, back) = decode_record(&rec).unwrap();
        assert_eq!(file, &[7u8; 193][..]);
        assert_eq!(back, ksf);
        assert!(decode_record(&[0u8; 5]).is_err());
    }
}
