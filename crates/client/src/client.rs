//! [`Client`]: one profile talking to its server. Every command of the CLI is one method here.

use std::time::{SystemTime, UNIX_EPOCH};

use coffer_crypto::Password;
use coffer_crypto::chain::{ChainLink, DeviceCertificate};
use coffer_crypto::fingerprint::fingerprint_phrase;
use coffer_crypto::identity::{KeyPair, PublicKeys};
use coffer_crypto::opaque;
use coffer_proto::api::{
    AccountKeys, AuditEntry, AuditVerifyResponse, B64, CreateWorkspaceRequest, DeviceInfo,
    DeviceRef, InviteCreated, InviteInfo, InviteRequest, KsfParams, LoginFinishRequest,
    LoginResult, LoginStartRequest, LoginStartResponse, MemberInfo, MfaCodeRequest,
    MfaConfirmResponse, MfaEnrollResponse, MfaVerifyRequest, NewDevice, PasswordResetCreated,
    RegisterFinishRequest, RegisterStartRequest, RegisterStartResponse, ResetFinishRequest,
    ResetStartRequest, ResetStartResponse, SessionInfo, SetRoleRequest, StatusResponse,
    WorkspaceCreated, WorkspaceInfo,
};
use coffer_proto::{
    DeviceId, DeviceState, ErrorCode, InviteId, Role, SessionId, UserId, WorkspaceId,
};
use serde::{Deserialize, Serialize};

use zeroize::Zeroizing;

use crate::account::{self, AccountState};
use crate::error::{ClientError, Result};
use crate::http::{Http, parse_server_url};
use crate::keystore::{self, Backend, Keystore};
use crate::ksf;
use crate::profile::{Profile, ProfileConfig, StoredSession};
use crate::unlock::{self, Keys};

/// The OPAQUE login context both sides bind into the key exchange (`docs/api.md`).
pub const LOGIN_CONTEXT: &[u8] = coffer_proto::api::OPAQUE_LOGIN_CONTEXT;

/// A second factor given to finish an MFA-pending login.
#[derive(Clone)]
pub enum MfaAnswer {
    /// A current TOTP code.
    Code(String),
    /// A one-time recovery code.
    RecoveryCode(String),
}

impl core::fmt::Debug for MfaAnswer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MfaAnswer::Code(_) => f.write_str("Code(***)"),
            MfaAnswer::RecoveryCode(_) => f.write_str("RecoveryCode(***)"),
        }
    }
}

/// What a successful signup or login established.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginOutcome {
    /// The profile used.
    pub profile: String,
    /// The server.
    pub server: String,
    /// The account's email.
    pub email: String,
    /// The user.
    pub user_id: UserId,
    /// This install's device.
    pub device_id: DeviceId,
    /// That device's state (a device added by a login is `pending` until approved).
    pub device_state: DeviceState,
    /// Whether this login registered a new device.
    pub new_device: bool,
    /// The session.
    pub session_id: SessionId,
    /// Session expiry, Unix seconds.
    pub expires_at: i64,
    /// The identity fingerprint phrase (compare it out of band).
    pub fingerprint: String,
    /// The identity key differs from the one pinned by an earlier login of this profile.
    pub identity_changed: bool,
}

/// The state kept between the password step and the MFA step of a login.
pub struct PendingLogin {
    email: String,
    ksf: KsfParams,
    export_key: opaque::ExportKey,
    result: LoginResult,
    new_device: Option<KeyPair>,
    raw: bool,
}

impl core::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("email", &self.email)
            .field("user_id", &self.result.user_id)
            .finish_non_exhaustive()
    }
}

/// Where a login stands after the password step.
#[derive(Debug)]
pub enum LoginProgress {
    /// Logged in.
    Done(LoginOutcome),
    /// The account has MFA on: call [`Client::complete_mfa`] with a code.
    NeedsMfa(Box<PendingLogin>),
}

/// The local view of a profile plus, when logged in, the server's view of the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The profile.
    pub profile: String,
    /// The server URL, if known.
    pub server: Option<String>,
    /// The email, if known.
    pub email: Option<String>,
    /// The user id, if known.
    pub user_id: Option<UserId>,
    /// This install's device id, if known.
    pub device_id: Option<DeviceId>,
    /// Whether this profile holds device keys.
    pub has_device_keys: bool,
    /// Whether a session is stored and valid.
    pub logged_in: bool,
    /// Whether the device and identity keys are available (protocol.md §14.2).
    #[serde(default)]
    pub unlocked: bool,
    /// The session, as the server sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<StatusResponse>,
}

/// One profile, with its server connection.
#[derive(Debug)]
pub struct Client {
    profile: Profile,
    cfg: ProfileConfig,
    http: Option<Http>,
    backend: Backend,
    raw_unlock_key: Option<Zeroizing<String>>,
    /// Things the last commands learnt that a person should see (ignored policies, shares a
    /// policy made): [`Client::take_notices`].
    notices: std::sync::Mutex<Vec<String>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn pw_err(e: coffer_crypto::CryptoError) -> ClientError {
    ClientError::Crypto(e)
}

fn opaque_ksf(k: &KsfParams) -> Result<opaque::KsfParams> {
    ksf::check(k)?;
    opaque::KsfParams::new(k.m_kib, k.t, k.p).map_err(pw_err)
}

fn seg(s: impl core::fmt::Display) -> String {
    // Ids are UUIDs and need no escaping; anything else is refused by the server anyway.
    s.to_string()
}

impl Client {
    /// Opens profile `name` (created on first save). `server` overrides the stored server URL.
    pub fn open(name: &str, server: Option<&str>) -> Result<Self> {
        Self::with_profile(Profile::open(name)?, server)
    }

    /// Like [`Client::open`], for a profile folder chosen by the caller.
    pub fn with_profile(profile: Profile, server: Option<&str>) -> Result<Self> {
        let mut cfg = profile.config()?;
        if let Some(s) = server {
            cfg.server = Some(parse_server_url(s)?.to_string());
        }
        let http = match &cfg.server {
            Some(s) => {
                let mut http = Http::new(parse_server_url(s)?)?;
                if let Some(sess) = profile.session()? {
                    http.set_token(Some(sess.token));
                }
                Some(http)
            }
            None => None,
        };
        Ok(Self {
            profile,
            cfg,
            http,
            backend: Backend::from_env(),
            raw_unlock_key: None,
            notices: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Takes the notices gathered since the last call (a CLI prints them on stderr).
    pub fn take_notices(&self) -> Vec<String> {
        match self.notices.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// Records a notice for [`Client::take_notices`].
    pub(crate) fn notice(&self, n: String) {
        match self.notices.lock() {
            Ok(mut g) => g.push(n),
            Err(p) => p.into_inner().push(n),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The profile's configuration as loaded (and overridden).
    pub fn config(&self) -> &ProfileConfig {
        &self.cfg
    }

    /// Chooses where local secrets go (default: [`Backend::from_env`]).
    pub fn set_keystore(&mut self, backend: Backend) {
        self.backend = backend;
    }

    fn http(&self) -> Result<&Http> {
        self.http.as_ref().ok_or(ClientError::NoServer)
    }

    fn authed(&self) -> Result<&Http> {
        let http = self.http()?;
        if !http.has_token() {
            return Err(ClientError::NotLoggedIn {
                profile: self.profile.name().to_owned(),
            });
        }
        Ok(http)
    }

    fn http_mut(&mut self) -> Result<&mut Http> {
        self.http.as_mut().ok_or(ClientError::NoServer)
    }

    /// Maps a 401 on an authenticated call to a message that says what to do.
    fn session_error(&self, e: ClientError) -> ClientError {
        match e {
            ClientError::Api {
                status,
                code: ErrorCode::Unauthorized,
                ..
            } => ClientError::Api {
                status,
                code: ErrorCode::Unauthorized,
                message: format!(
                    "the session of profile \"{}\" has expired or was revoked: run `coffer login`",
                    self.profile.name()
                ),
            },
            other => other,
        }
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let r = self.authed()?.get(path).await;
        r.map_err(|e| self.session_error(e))
    }

    pub(crate) async fn post<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let r = self.authed()?.post(path, body).await;
        r.map_err(|e| self.session_error(e))
    }

    pub(crate) async fn post_no_content<B: Serialize>(&self, path: &str, body: &B) -> Result<()> {
        let r = self.authed()?.post_no_content(path, body).await;
        r.map_err(|e| self.session_error(e))
    }

    pub(crate) async fn put<B: Serialize>(&self, path: &str, body: &B) -> Result<()> {
        let r = self.authed()?.put(path, body).await;
        r.map_err(|e| self.session_error(e))
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        let r = self.authed()?.delete(path).await;
        r.map_err(|e| self.session_error(e))
    }

    fn device_name(name: Option<&str>) -> String {
        match name {
            Some(n) if !n.trim().is_empty() => n.trim().to_owned(),
            _ => {
                let host = std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "unknown".into());
                format!("coffer-cli@{host}")
            }
        }
    }

    fn store_session(&mut self, result: &LoginResult) -> Result<()> {
        self.profile.save_session(&StoredSession {
            session_id: result.session.session_id,
            token: result.session.token.clone(),
            expires_at: result.session.expires_at,
        })?;
        let token = result.session.token.clone();
        self.http_mut()?.set_token(Some(token));
        Ok(())
    }

    /// Creates an account: OPAQUE registration, a new identity key pair sealed under the password
    /// KEK, the signed account state, and this install as the first (trusted) device.
    pub async fn signup(
        &mut self,
        email: &str,
        password: &Password,
        device_name: Option<&str>,
    ) -> Result<LoginOutcome> {
        let ksf = ksf::for_new_account()?;
        self.signup_with_ksf(email, password, device_name, ksf)
            .await
    }

    /// [`Client::signup`] with chosen KSF parameters (checked against the floor: never below).
    pub async fn signup_with_ksf(
        &mut self,
        email: &str,
        password: &Password,
        device_name: Option<&str>,
        ksf: KsfParams,
    ) -> Result<LoginOutcome> {
        self.enrol(email, password, device_name, ksf, None).await
    }

    /// Sets a new password with a reset token an admin issued (protocol.md §20): a new identity
    /// key pair, the signed account state and this install as the account's only trusted
    /// device. Everything bound to the old identity is revoked by the server; the member is
    /// unconfirmed until an admin confirms the new identity, and vault keys come back by
    /// replication. This profile's cache (under the old device key) is dropped.
    pub async fn reset_password(
        &mut self,
        email: &str,
        token: &str,
        password: &Password,
        device_name: Option<&str>,
    ) -> Result<LoginOutcome> {
        let ksf = ksf::for_new_account()?;
        let token = token.trim();
        if token.is_empty() {
            return Err(ClientError::Invalid("the reset token is empty".into()));
        }
        let outcome = self
            .enrol(email, password, device_name, ksf, Some(token))
            .await?;
        self.profile.remove(crate::cache::CACHE_FILE)?;
        Ok(outcome)
    }

    /// Registers a new password and identity: a new account (`reset` = `None`) or an admin reset
    /// of an existing one (`reset` = the token).
    async fn enrol(
        &mut self,
        email: &str,
        password: &Password,
        device_name: Option<&str>,
        ksf: KsfParams,
        reset: Option<&str>,
    ) -> Result<LoginOutcome> {
        let email = account::normalize_email(email)?;
        if self.cfg.user_id.is_some() && self.cfg.email.as_deref() != Some(email.as_str()) {
            return Err(ClientError::Invalid(format!(
                "profile \"{}\" already belongs to {}: use another --profile",
                self.profile.name(),
                self.cfg.email.as_deref().unwrap_or("another account")
            )));
        }
        if password.expose_secret().is_empty() {
            return Err(ClientError::Invalid("the password is empty".into()));
        }
        let oksf = opaque_ksf(&ksf)?;
        let user = opaque::UserId::from_email(&email)?;
        let http = self.http()?.clone();

        let (state, request) = opaque::client_register_start(password)?;
        // A new account picks its own user id; a reset keeps the account's.
        let (response, user_id) = match reset {
            None => {
                let start: RegisterStartResponse = http
                    .post(
                        "v1/auth/register/start",
                        &RegisterStartRequest {
                            email: email.clone(),
                            request: B64(request),
                        },
                    )
                    .await?;
                (start.response, UserId::new_random())
            }
            Some(token) => {
                let start: ResetStartResponse = http
                    .post(
                        "v1/auth/reset/start",
                        &ResetStartRequest {
                            email: email.clone(),
                            token: token.to_owned(),
                            request: B64(request),
                        },
                    )
                    .await?;
                if self.cfg.user_id.is_some_and(|u| u != start.user_id) {
                    return Err(ClientError::Protocol(
                        "the server named another account for this reset".into(),
                    ));
                }
                (start.response, start.user_id)
            }
        };
        let (upload, export_key) =
            opaque::client_register_finish(state, password, &response.0, &oksf, &user)?;
        let kek = export_key.password_kek()?;

        let identity = KeyPair::generate()?;
        let bundle = account::seal_bundle(&kek, &email, &identity)?;
        let state = AccountState::new(ksf, identity.public(), &email)?.sign(&identity)?;
        let device = KeyPair::generate()?;
        // The client picks the user and device ids; the certificate names them and the server
        // takes them from it (docs/api.md, `NewDevice.certificate`).
        let device_id = DeviceId::new_random();
        let cert_user = *user_id.as_uuid().as_bytes();
        let cert_device = *device_id.as_uuid().as_bytes();
        let cert = DeviceCertificate::issue(
            &identity,
            cert_user,
            cert_device,
            &device.public(),
            now_secs(),
        )?;
        // ... and the genesis of the device chain adding it (protocol.md §14.5).
        let genesis = ChainLink::add(None, cert_device, &device.public(), now_secs(), &identity)?;
        let device_name = Self::device_name(device_name);
        let account = AccountKeys {
            identity_public: B64(identity.public().to_bytes().to_vec()),
            bundle: B64(bundle.into_bytes()),
            account_state: B64(state),
            ksf,
        };
        let new_device = NewDevice {
            name: device_name.clone(),
            public_keys: B64(device.public().to_bytes().to_vec()),
            certificate: Some(B64(cert.as_bytes().to_vec())),
            chain_link: Some(B64(genesis.as_bytes().to_vec())),
        };
        let result: LoginResult = match reset {
            None => {
                http.post(
                    "v1/auth/register/finish",
                    &RegisterFinishRequest {
                        email: email.clone(),
                        upload: B64(upload),
                        account,
                        device: new_device,
                    },
                )
                .await?
            }
            Some(token) => {
                http.post(
                    "v1/auth/reset/finish",
                    &ResetFinishRequest {
                        email: email.clone(),
                        token: token.to_owned(),
                        upload: B64(upload),
                        account,
                        device: new_device,
                    },
                )
                .await?
            }
        };
        if result.user_id != user_id || result.device_id != device_id {
            return Err(ClientError::Protocol(
                "the server did not register the ids named in the device certificate".into(),
            ));
        }
        self.cfg.email = Some(email.clone());
        self.cfg.device_name = Some(device_name);
        let mut outcome = self.finish(email, ksf, identity.public(), result, true)?;
        self.pin_link(user_id, &identity.public(), &genesis)?;
        self.secure_device(&identity, Some(device), &mut outcome, false)
            .await?;
        Ok(outcome)
    }

    /// After a verified login: fetches the device's server share with the identity key, seals a
    /// new device's seed (or opens, or migrates, the stored one), certifies a pending device
    /// (protocol.md §14.1), and writes the unlocked state until the session's expiry (§14.2).
    async fn secure_device(
        &mut self,
        identity: &KeyPair,
        new_device: Option<KeyPair>,
        outcome: &mut LoginOutcome,
        raw: bool,
    ) -> Result<()> {
        let device_id = outcome.device_id;
        let share = keystore::fetch_share(self.authed()?, device_id, identity)
            .await
            .map_err(|e| self.session_error(e))?;
        let ks = Keystore::new(&self.profile, self.backend);
        let device = match new_device {
            Some(kp) => {
                ks.store_device_key(device_id, &share, &kp)?;
                kp
            }
            None => ks.open_device_key(device_id, &share)?,
        };
        // A new device certifies itself only while its user has no trusted device; otherwise it
        // waits for an approval from one of them (protocol.md §14.4).
        let self_certify = outcome.device_state == DeviceState::Pending
            && !self
                .user_devices(outcome.user_id)
                .await?
                .iter()
                .any(|d| d.device_id != device_id && d.state == DeviceState::Trusted);
        if self_certify {
            let cert = DeviceCertificate::issue(
                identity,
                *outcome.user_id.as_uuid().as_bytes(),
                *device_id.as_uuid().as_bytes(),
                &device.public(),
                now_secs(),
            )?;
            let (links, _) = self.own_chain(outcome.user_id, &identity.public()).await?;
            let link = ChainLink::add(
                links.last(),
                *device_id.as_uuid().as_bytes(),
                &device.public(),
                now_secs(),
                identity,
            )?;
            self.post_no_content(
                &format!("v1/devices/{}/certificate", seg(device_id)),
                &coffer_proto::vault::CertifyDeviceRequest {
                    certificate: B64(cert.as_bytes().to_vec()),
                    grants: Vec::new(),
                    recovery_proof: None,
                    chain_link: Some(B64(link.as_bytes().to_vec())),
                },
            )
            .await?;
            self.pin_link(outcome.user_id, &identity.public(), &link)?;
            outcome.device_state = DeviceState::Trusted;
        }
        let keys = Keys {
            user_id: outcome.user_id,
            device_id,
            device,
            identity: KeyPair::from_seed(identity.seed())?,
        };
        let expires = u64::try_from(outcome.expires_at).unwrap_or(0);
        self.raw_unlock_key = unlock::write(&self.profile, self.backend, &keys, expires, raw)?;
        Ok(())
    }

    /// Records a verified login in the profile and builds the outcome.
    fn finish(
        &mut self,
        email: String,
        ksf: KsfParams,
        identity: PublicKeys,
        result: LoginResult,
        new_device: bool,
    ) -> Result<LoginOutcome> {
        let pin = hex::encode(identity.to_bytes());
        let identity_changed = self
            .cfg
            .identity_public
            .as_ref()
            .is_some_and(|old| *old != pin);
        self.cfg.version = 1;
        self.cfg.email = Some(email.clone());
        self.cfg.user_id = Some(result.user_id);
        self.cfg.device_id = Some(result.device_id);
        self.cfg.identity_public = Some(pin);
        self.cfg.ksf = Some(ksf);
        self.cfg.account_state_version = self
            .cfg
            .account_state_version
            .max(account::ACCOUNT_STATE_VERSION);
        self.profile.save_config(&self.cfg)?;
        self.store_session(&result)?;
        Ok(LoginOutcome {
            profile: self.profile.name().to_owned(),
            server: self.cfg.server.clone().unwrap_or_default(),
            email,
            user_id: result.user_id,
            device_id: result.device_id,
            device_state: result.device_state,
            new_device,
            session_id: result.session.session_id,
            expires_at: result.session.expires_at,
            fingerprint: fingerprint_phrase(&identity),
            identity_changed,
        })
    }

    /// Logs in with a password. The KSF parameters the server returns are checked against the
    /// floor before the password is stretched or anything derived from it is sent. A profile
    /// without device keys registers a new (pending) device.
    pub async fn login(
        &mut self,
        email: &str,
        password: &Password,
        device_name: Option<&str>,
    ) -> Result<LoginProgress> {
        self.login_inner(email, password, device_name, false).await
    }

    async fn login_inner(
        &mut self,
        email: &str,
        password: &Password,
        device_name: Option<&str>,
        raw: bool,
    ) -> Result<LoginProgress> {
        self.raw_unlock_key = None;
        let email = account::normalize_email(email)?;
        if self.cfg.user_id.is_some() && self.cfg.email.as_deref() != Some(email.as_str()) {
            return Err(ClientError::Invalid(format!(
                "profile \"{}\" belongs to {}: use another --profile",
                self.profile.name(),
                self.cfg.email.as_deref().unwrap_or("another account")
            )));
        }
        let user = opaque::UserId::from_email(&email)?;
        let mut http = self.http()?.clone();
        http.set_token(None);

        let (state, request) = opaque::client_login_start(password)?;
        let start: LoginStartResponse = http
            .post(
                "v1/auth/login/start",
                &LoginStartRequest {
                    email: email.clone(),
                    request: B64(request),
                },
            )
            .await?;
        // The floor, before any password-derived value is computed: `opaque_ksf` refuses first.
        let oksf = opaque_ksf(&start.ksf)?;
        let (finalization, _session_key, export_key) = match opaque::client_login_finish(
            state,
            password,
            &start.response.0,
            &oksf,
            &user,
            LOGIN_CONTEXT,
        ) {
            Ok(v) => v,
            Err(coffer_crypto::CryptoError::OpenFailed) => {
                // Wrong password (or a server that is not the one registered with). Tell the
                // server the attempt failed, with a finalization that cannot verify, so that it
                // audits (`auth.login_failed`) and throttles it like any failed login.
                let mut junk = [0u8; opaque::CREDENTIAL_FINALIZATION_LEN];
                coffer_crypto::secret::fill_random(&mut junk)?;
                let _ = http
                    .post::<_, serde_json::Value>(
                        "v1/auth/login/finish",
                        &LoginFinishRequest {
                            login_id: start.login_id,
                            finalization: B64(junk.to_vec()),
                            device: DeviceRef::Existing(DeviceId::new_random()),
                        },
                    )
                    .await;
                return Err(ClientError::Api {
                    status: 401,
                    code: ErrorCode::Unauthorized,
                    message: "login failed: wrong email or password".into(),
                });
            }
            Err(e) => return Err(e.into()),
        };

        let existing = self.profile.device_key()?;
        let (device_ref, new_device) = match &existing {
            Some(k) if self.cfg.user_id.is_some() => (DeviceRef::Existing(k.device_id()), None),
            _ => {
                let kp = KeyPair::generate()?;
                let name = Self::device_name(device_name);
                self.cfg.device_name = Some(name.clone());
                (
                    DeviceRef::New(NewDevice {
                        name,
                        public_keys: B64(kp.public().to_bytes().to_vec()),
                        certificate: None,
                        chain_link: None,
                    }),
                    Some(kp),
                )
            }
        };
        let existing_device = matches!(device_ref, DeviceRef::Existing(_));
        let finished = http
            .post(
                "v1/auth/login/finish",
                &LoginFinishRequest {
                    login_id: start.login_id,
                    finalization: B64(finalization),
                    device: device_ref,
                },
            )
            .await;
        let result: LoginResult = match finished {
            Ok(r) => r,
            // The password was right (OPAQUE authenticated the server), but the server refuses
            // this install's device: revoked (403) or unknown to this account (404). Its keys
            // are useless now; forget them so the next login registers a new device.
            Err(ClientError::Api {
                status,
                code: code @ (ErrorCode::Forbidden | ErrorCode::NotFound),
                ..
            }) if existing_device => {
                if let Some(k) = &existing {
                    self.forget_device_secrets(k.device_id())?;
                }
                self.profile.clear_device_key()?;
                self.cfg.device_id = None;
                self.profile.save_config(&self.cfg)?;
                return Err(ClientError::Api {
                    status,
                    code,
                    message: "the server no longer accepts this device (it was revoked); its \
                              local keys were deleted: run `coffer login` again to register \
                              this install as a new, pending device"
                        .into(),
                });
            }
            Err(e) => return Err(e),
        };
        http.set_token(Some(result.session.token.clone()));
        self.http = Some(http);
        let pending = PendingLogin {
            email,
            ksf: start.ksf,
            export_key,
            result,
            new_device,
            raw,
        };
        if pending.result.mfa_pending {
            return Ok(LoginProgress::NeedsMfa(Box::new(pending)));
        }
        self.verify_and_finish(pending)
            .await
            .map(LoginProgress::Done)
    }

    /// Gives the second factor of an MFA-pending login, then finishes it.
    pub async fn complete_mfa(
        &mut self,
        pending: Box<PendingLogin>,
        answer: MfaAnswer,
    ) -> Result<LoginOutcome> {
        let body = match answer {
            MfaAnswer::Code(c) => MfaVerifyRequest {
                code: Some(c.trim().to_owned()),
                recovery_code: None,
            },
            MfaAnswer::RecoveryCode(c) => MfaVerifyRequest {
                code: None,
                recovery_code: Some(c.trim().to_owned()),
            },
        };
        let r = self.http()?.post_no_content("v1/auth/mfa", &body).await;
        if let Err(e) = r {
            self.abandon().await;
            return Err(match e {
                ClientError::Api {
                    status,
                    code: ErrorCode::Unauthorized,
                    ..
                } => ClientError::Api {
                    status,
                    code: ErrorCode::Unauthorized,
                    message: "the MFA code is wrong or was already used".into(),
                },
                e => e,
            });
        }
        self.verify_and_finish(*pending).await
    }

    /// Gives up an MFA-pending login: its half-made session is revoked (best effort).
    pub async fn abandon_login(&mut self, pending: Box<PendingLogin>) {
        drop(pending);
        self.abandon().await;
    }

    /// Revokes the half-made session of a failed login (best effort).
    async fn abandon(&mut self) {
        if let Some(http) = self.http.as_ref() {
            let _ = http.post_nothing("v1/auth/logout").await;
        }
        if let Some(http) = self.http.as_mut() {
            http.set_token(None);
        }
    }

    /// Fetches the account keys and checks them: the bundle opens under the password KEK, the
    /// state verifies under the opened identity key, names it, names the KSF parameters used and
    /// the email, and is not older than what this profile has seen.
    async fn verify_and_finish(&mut self, p: PendingLogin) -> Result<LoginOutcome> {
        let checked = async {
            let keys: AccountKeys = self.http()?.get("v1/account").await?;
            let kek = p.export_key.password_kek()?;
            let identity =
                account::open_bundle(&kek, &p.email, &keys.bundle.0).map_err(|e| match e {
                    ClientError::Crypto(_) => ClientError::AccountState(
                        "the account bundle does not open with this password".into(),
                    ),
                    e => e,
                })?;
            let public = identity.public();
            if keys.identity_public.0 != public.to_bytes() {
                return Err(ClientError::AccountState(
                    "the server's identity public key is not the one in the bundle".into(),
                ));
            }
            let state = AccountState::verify(&keys.account_state.0, &public)?;
            if state.version < self.cfg.account_state_version {
                return Err(ClientError::Downgrade {
                    seen: self.cfg.account_state_version,
                    got: state.version,
                });
            }
            if state.ksf != p.ksf || keys.ksf != p.ksf {
                return Err(ClientError::AccountState(
                    "the signed KSF parameters differ from those the server gave for login".into(),
                ));
            }
            if state.email != p.email {
                return Err(ClientError::AccountState(
                    "the signed state names another email".into(),
                ));
            }
            Ok(identity)
        }
        .await;
        let identity = match checked {
            Ok(v) => v,
            Err(e) => {
                self.abandon().await;
                return Err(self.session_error(e));
            }
        };
        let is_new = p.new_device.is_some();
        let mut outcome = self.finish(p.email, p.ksf, identity.public(), p.result, is_new)?;
        self.secure_device(&identity, p.new_device, &mut outcome, p.raw)
            .await?;
        Ok(outcome)
    }

    /// Deletes the local secret and the unlocked state of `device_id` (the device is gone).
    fn forget_device_secrets(&self, device_id: DeviceId) -> Result<()> {
        unlock::lock(&self.profile, self.backend, Some(device_id))?;
        Keystore::new(&self.profile, self.backend).delete_local_secret(device_id)
    }

    // --- unlock ----------------------------------------------------------------------------

    /// The device and identity keys of the unlocked profile (protocol.md §14.2). The unlock key
    /// comes from `COFFER_SESSION` when set, else from the keychain or `unlock.key`.
    /// [`ClientError::Locked`] when there is none, the state does not open, or it expired.
    pub fn keys(&self) -> Result<Keys> {
        let (Some(user_id), Some(device_id)) = (self.cfg.user_id, self.cfg.device_id) else {
            return Err(ClientError::Locked);
        };
        let session = std::env::var(unlock::SESSION_ENV).ok().map(Zeroizing::new);
        unlock::read(
            &self.profile,
            self.backend,
            user_id,
            device_id,
            session.as_deref().map(String::as_str),
            now_secs(),
        )
    }

    /// Unlocks the profile: runs the OPAQUE login again with the profile's email (a new
    /// session), opens the device keys and writes the unlocked state. With `raw`, the unlock key
    /// is not stored but returned as `b64(S)` for `COFFER_SESSION`. An account with MFA needs
    /// [`Client::unlock_begin`], [`Client::complete_mfa`] and [`Client::take_unlock_key`].
    pub async fn unlock(&mut self, password: &Password, raw: bool) -> Result<Option<String>> {
        match self.unlock_begin(password, raw).await? {
            LoginProgress::Done(_) => Ok(self.take_unlock_key()),
            LoginProgress::NeedsMfa(pending) => {
                self.abandon_login(pending).await;
                Err(ClientError::Invalid(
                    "this account has MFA on: give a code to unlock".into(),
                ))
            }
        }
    }

    /// The first step of [`Client::unlock`]: the password login of the profile's account on
    /// this install's device. Finish an MFA-pending login with [`Client::complete_mfa`].
    pub async fn unlock_begin(&mut self, password: &Password, raw: bool) -> Result<LoginProgress> {
        let not_logged_in = || ClientError::NotLoggedIn {
            profile: self.profile.name().to_owned(),
        };
        let email = self.cfg.email.clone().ok_or_else(not_logged_in)?;
        if self.cfg.user_id.is_none() || self.profile.device_key()?.is_none() {
            return Err(not_logged_in());
        }
        self.login_inner(&email, password, None, raw).await
    }

    /// The `b64(S)` of the last raw unlock, once.
    pub fn take_unlock_key(&mut self) -> Option<String> {
        self.raw_unlock_key.take().map(|s| s.to_string())
    }

    /// Locks the profile: deletes the unlocked state and its stored key. Returns whether it was
    /// unlocked (had a state).
    pub fn lock(&mut self) -> Result<bool> {
        unlock::lock(&self.profile, self.backend, self.cfg.device_id)
    }

    /// Ends the session on the server and forgets it locally (locally even when the server cannot
    /// be reached; that error is still returned). Returns whether there was a session.
    pub async fn logout(&mut self) -> Result<bool> {
        let had = self.http.as_ref().is_some_and(|h| h.has_token());
        let mut outcome = Ok(had);
        if let Some(http) = self.http.as_ref().filter(|_| had) {
            match http.post_nothing("v1/auth/logout").await {
                Ok(())
                | Err(ClientError::Api {
                    code: ErrorCode::Unauthorized,
                    ..
                }) => {}
                Err(e) => outcome = Err(e),
            }
        }
        self.profile.clear_session()?;
        self.lock()?;
        if let Some(http) = self.http.as_mut() {
            http.set_token(None);
        }
        outcome
    }

    /// The profile and, when logged in, the session as the server sees it.
    pub async fn status(&self) -> Result<Status> {
        let mut st = Status {
            profile: self.profile.name().to_owned(),
            server: self.cfg.server.clone(),
            email: self.cfg.email.clone(),
            user_id: self.cfg.user_id,
            device_id: self.cfg.device_id,
            has_device_keys: self.profile.device_key()?.is_some(),
            logged_in: false,
            unlocked: self.keys().is_ok(),
            session: None,
        };
        if self.http.as_ref().is_some_and(|h| h.has_token()) {
            let s: StatusResponse = self.get("v1/status").await?;
            st.logged_in = true;
            st.session = Some(s);
        }
        Ok(st)
    }

    /// The identity fingerprint phrase pinned by the last verified login of this profile.
    pub fn fingerprint(&self) -> Result<String> {
        let pin = self
            .cfg
            .identity_public
            .as_deref()
            .ok_or_else(|| ClientError::NotLoggedIn {
                profile: self.profile.name().to_owned(),
            })?;
        let bytes = hex::decode(pin)
            .map_err(|_| ClientError::config(self.profile.dir(), "corrupt identity pin"))?;
        Ok(fingerprint_phrase(&PublicKeys::from_bytes(&bytes)?))
    }

    // --- MFA -------------------------------------------------------------------------------

    /// Starts TOTP enrolment: the `otpauth://` URI of a new secret (pending until confirmed).
    pub async fn mfa_enroll(&self) -> Result<String> {
        let r: MfaEnrollResponse = self.authed()?.post_empty("v1/mfa/enroll").await?;
        Ok(r.otpauth_uri)
    }

    /// Confirms enrolment with a current code; returns the one-time recovery codes.
    pub async fn mfa_confirm(&self, code: &str) -> Result<Vec<String>> {
        let r: MfaConfirmResponse = self
            .post(
                "v1/mfa/confirm",
                &MfaCodeRequest {
                    code: code.trim().to_owned(),
                },
            )
            .await?;
        Ok(r.recovery_codes)
    }

    /// Turns MFA off (needs a current code).
    pub async fn mfa_disable(&self, code: &str) -> Result<()> {
        self.post_no_content(
            "v1/mfa/disable",
            &MfaCodeRequest {
                code: code.trim().to_owned(),
            },
        )
        .await
    }

    // --- workspaces ------------------------------------------------------------------------

    /// Creates a workspace; the caller becomes its owner.
    pub async fn workspace_create(&self, name: &str) -> Result<WorkspaceCreated> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ClientError::Invalid("a workspace needs a name".into()));
        }
        self.post(
            "v1/workspaces",
            &CreateWorkspaceRequest {
                name: name.to_owned(),
            },
        )
        .await
    }

    /// The caller's workspaces.
    pub async fn workspaces(&self) -> Result<Vec<WorkspaceInfo>> {
        self.get("v1/workspaces").await
    }

    /// Resolves a workspace by name (exact, then case-insensitive) or id.
    pub async fn resolve_workspace(&self, name: &str) -> Result<WorkspaceInfo> {
        let all = self.workspaces().await?;
        let found = all
            .iter()
            .find(|w| w.name == name)
            .or_else(|| all.iter().find(|w| w.name.eq_ignore_ascii_case(name)))
            .or_else(|| all.iter().find(|w| w.workspace_id.to_string() == name));
        found.cloned().ok_or_else(|| ClientError::NotFound {
            kind: "workspace",
            name: name.to_owned(),
        })
    }

    /// The members of a workspace.
    pub async fn members(&self, workspace: &str) -> Result<Vec<MemberInfo>> {
        let ws = self.resolve_workspace(workspace).await?;
        self.get(&format!("v1/workspaces/{}/members", seg(ws.workspace_id)))
            .await
    }

    pub(crate) async fn resolve_member(&self, ws: WorkspaceId, email: &str) -> Result<MemberInfo> {
        let members: Vec<MemberInfo> = self
            .get(&format!("v1/workspaces/{}/members", seg(ws)))
            .await?;
        let want = email.trim().to_lowercase();
        members
            .into_iter()
            .find(|m| m.email.to_lowercase() == want || m.user_id.to_string() == want)
            .ok_or_else(|| ClientError::NotFound {
                kind: "member",
                name: email.to_owned(),
            })
    }

    /// Invites `email` to a workspace with `role`.
    pub async fn invite(&self, workspace: &str, email: &str, role: Role) -> Result<InviteCreated> {
        let ws = self.resolve_workspace(workspace).await?;
        let email = account::normalize_email(email)?;
        self.post(
            &format!("v1/workspaces/{}/invites", seg(ws.workspace_id)),
            &InviteRequest { email, role },
        )
        .await
    }

    /// Invites addressed to the caller.
    pub async fn invites(&self) -> Result<Vec<InviteInfo>> {
        self.get("v1/invites").await
    }

    /// Accepts the invite to the workspace named `workspace` (or the invite with that id).
    pub async fn accept(&self, workspace: &str) -> Result<InviteInfo> {
        let all = self.invites().await?;
        let found = all
            .iter()
            .find(|i| i.workspace_name == workspace)
            .or_else(|| {
                all.iter()
                    .find(|i| i.workspace_name.eq_ignore_ascii_case(workspace))
            })
            .or_else(|| all.iter().find(|i| i.invite_id.to_string() == workspace))
            .cloned()
            .ok_or_else(|| ClientError::NotFound {
                kind: "invite to workspace",
                name: workspace.to_owned(),
            })?;
        let r = self
            .authed()?
            .post_nothing(&format!("v1/invites/{}/accept", seg(found.invite_id)))
            .await;
        r.map_err(|e| self.session_error(e))?;
        Ok(found)
    }

    /// Accepts an invite by id.
    pub async fn accept_id(&self, id: InviteId) -> Result<()> {
        let r = self
            .authed()?
            .post_nothing(&format!("v1/invites/{}/accept", seg(id)))
            .await;
        r.map_err(|e| self.session_error(e))
    }

    /// Changes a member's role.
    pub async fn set_role(&self, workspace: &str, email: &str, role: Role) -> Result<MemberInfo> {
        let ws = self.resolve_workspace(workspace).await?;
        let m = self.resolve_member(ws.workspace_id, email).await?;
        self.put(
            &format!(
                "v1/workspaces/{}/members/{}",
                seg(ws.workspace_id),
                seg(m.user_id)
            ),
            &SetRoleRequest { role },
        )
        .await?;
        Ok(m)
    }

    /// Issues a one-time password-reset token for a member (owner or admin; protocol.md §20).
    /// The admin hands it to the member, who runs [`Client::reset_password`] with it.
    pub async fn issue_password_reset(
        &self,
        workspace: &str,
        email: &str,
    ) -> Result<(MemberInfo, PasswordResetCreated)> {
        let ws = self.resolve_workspace(workspace).await?;
        let m = self.resolve_member(ws.workspace_id, email).await?;
        let created: PasswordResetCreated = self
            .post(
                &format!(
                    "v1/workspaces/{}/members/{}/password-reset",
                    seg(ws.workspace_id),
                    seg(m.user_id)
                ),
                &serde_json::json!({}),
            )
            .await?;
        Ok((m, created))
    }

    /// Removes a member (or, with the caller's own email, leaves: that needs no right to read
    /// the member list).
    pub async fn remove_member(&self, workspace: &str, email: &str) -> Result<MemberInfo> {
        let ws = self.resolve_workspace(workspace).await?;
        let own = self
            .cfg
            .email
            .as_deref()
            .zip(self.cfg.user_id)
            .filter(|(e, _)| account::normalize_email(email).is_ok_and(|n| n == *e));
        let m = match own {
            Some((e, user_id)) => MemberInfo {
                user_id,
                email: e.to_owned(),
                role: ws.role,
                joined_at: 0,
                identity_public_keys: None,
                attestation: None,
            },
            None => self.resolve_member(ws.workspace_id, email).await?,
        };
        self.delete(&format!(
            "v1/workspaces/{}/members/{}",
            seg(ws.workspace_id),
            seg(m.user_id)
        ))
        .await?;
        Ok(m)
    }

    // --- devices and sessions ------------------------------------------------------------

    /// The user's devices.
    pub async fn devices(&self) -> Result<Vec<DeviceInfo>> {
        self.get("v1/devices").await
    }

    /// Revokes a device; its sessions end. Revoking this install's own device also forgets the
    /// local session and device keys.
    ///
    /// A device this user's device chain trusts is revoked with a `revoke` link signed by the
    /// identity key (protocol.md §14.5), so this needs the unlocked keys; the new head is pinned
    /// once the server accepted it. A device the chain never added (a pending one) is revoked
    /// without a link.
    pub async fn revoke_device(&mut self, id: DeviceId) -> Result<bool> {
        let keys = self.keys()?;
        let identity = keys.identity.public();
        let (links, trusted) = self.own_chain(keys.user_id, &identity).await?;
        let link = match trusted.device(id.as_uuid().as_bytes()) {
            Some(d) => Some(ChainLink::revoke(
                links.last(),
                d.id,
                &d.keys,
                now_secs(),
                &keys.identity,
            )?),
            None => None,
        };
        self.post_no_content(
            &format!("v1/devices/{}/revoke", seg(id)),
            &coffer_proto::vault::RevokeDeviceRequest {
                chain_link: link.as_ref().map(|l| B64(l.as_bytes().to_vec())),
            },
        )
        .await?;
        if let Some(l) = &link {
            self.pin_link(keys.user_id, &identity, l)?;
        }
        let own = self.cfg.device_id == Some(id);
        if own {
            self.profile.clear_session()?;
            self.forget_device_secrets(id)?;
            self.profile.clear_device_key()?;
            self.cfg.device_id = None;
            self.profile.save_config(&self.cfg)?;
            if let Some(h) = self.http.as_mut() {
                h.set_token(None);
            }
        }
        Ok(own)
    }

    /// The user's sessions.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>> {
        self.get("v1/sessions").await
    }

    /// Revokes a session. Revoking the current one also forgets it locally.
    pub async fn revoke_session(&mut self, id: SessionId) -> Result<bool> {
        self.delete(&format!("v1/sessions/{}", seg(id))).await?;
        let own = self.profile.session()?.is_some_and(|s| s.session_id == id);
        if own {
            self.profile.clear_session()?;
            if let Some(h) = self.http.as_mut() {
                h.set_token(None);
            }
        }
        Ok(own)
    }

    // --- audit -----------------------------------------------------------------------------

    /// A page of a workspace's audit log (entries after `after`, at most `limit`).
    pub async fn audit(
        &self,
        workspace: &str,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEntry>> {
        let ws = self.resolve_workspace(workspace).await?;
        let mut path = format!("v1/workspaces/{}/audit", seg(ws.workspace_id));
        let mut sep = '?';
        if let Some(a) = after {
            path.push_str(&format!("{sep}after={a}"));
            sep = '&';
        }
        if let Some(l) = limit {
            path.push_str(&format!("{sep}limit={l}"));
        }
        self.get(&path).await
    }

    /// Has the server recompute the audit hash chain.
    pub async fn audit_verify(&self) -> Result<AuditVerifyResponse> {
        self.get("v1/audit/verify").await
    }
}
