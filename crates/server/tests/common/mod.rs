//! Test harness: an in-process server on a temporary data folder (SQLite by default, or a
//! database of a throwaway PostgreSQL cluster), called through `tower::ServiceExt::oneshot`,
//! and a small client that speaks the real protocol (OPAQUE through `coffer_crypto::opaque`).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use coffer_crypto::Password;
use coffer_crypto::chain::{ChainLink, DeviceCertificate};
use coffer_crypto::identity::KeyPair;
use coffer_crypto::opaque::{self, KsfParams as OpaqueKsf, UserId as OpaqueUser};
use coffer_proto::api::{
    AccountKeys, B64, DeviceRef, KsfParams, LoginFinishRequest, LoginResult, LoginStartRequest,
    LoginStartResponse, NewDevice, OPAQUE_LOGIN_CONTEXT, RegisterFinishRequest,
    RegisterStartRequest, RegisterStartResponse,
};
use coffer_proto::{DeviceId, UserId};
use coffer_server::config::{Config, DbUrl, LogFormat};
use coffer_server::state::AppState;
use coffer_server::throttle::ThrottleConfig;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Where the stores live.
pub enum Backend<'a> {
    Sqlite,
    Postgres(&'a coffer_store::testing::PgCluster),
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub config: Config,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

pub struct Options {
    pub session_ttl: Duration,
    pub throttle: ThrottleConfig,
    pub revisions_kept: u32,
    pub max_attachment_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(3600),
            throttle: ThrottleConfig::default(),
            revisions_kept: coffer_server::config::DEFAULT_REVISIONS_KEPT,
            max_attachment_size: coffer_server::config::DEFAULT_MAX_ATTACHMENT_SIZE,
        }
    }
}

pub fn config_for(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: DbUrl::new(format!("sqlite://{}/data/main.db", dir.display())),
        value_store_url: DbUrl::new(format!("sqlite://{}/data/values.db", dir.display())),
        tls: None,
        insecure_http: false,
        session_ttl: Duration::from_secs(3600),
        data_key_rotation: None,
        log_format: LogFormat::Text,
        revisions_kept: coffer_server::config::DEFAULT_REVISIONS_KEPT,
        max_attachment_size: coffer_server::config::DEFAULT_MAX_ATTACHMENT_SIZE,
        grant_retention: coffer_server::config::DEFAULT_GRANT_RETENTION,
    }
}

impl TestApp {
    pub async fn start(backend: &Backend<'_>, opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_for(dir.path());
        config.session_ttl = opts.session_ttl;
        config.revisions_kept = opts.revisions_kept;
        config.max_attachment_size = opts.max_attachment_size;
        if let Backend::Postgres(pg) = backend {
            config.database_url = DbUrl::new(pg.create_database("main").await.unwrap());
            config.value_store_url = DbUrl::new(pg.create_database("values").await.unwrap());
        }
        let state = coffer_server::startup::open_state_with(&config, opts.throttle)
            .await
            .unwrap();
        let router = coffer_server::app::router(state.clone());
        Self {
            router,
            state,
            config,
            dir,
            addr: "127.0.0.1:50000".parse().unwrap(),
        }
    }

    pub async fn raw(&self, mut req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        req.extensions_mut().insert(ConnectInfo(self.addr));
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
            .await
            .unwrap()
            .to_vec();
        (status, headers, body)
    }

    pub async fn call_full(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let (status, headers, bytes) = self.raw(req).await;
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, headers, v)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self.call_full(method, path, token, body).await;
        (s, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Every audit entry (global chain), oldest first.
    pub async fn audit_actions(&self) -> Vec<coffer_store::AuditEntry> {
        self.state.main.list_audit(None, 0, 1000).await.unwrap()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// A client account: its password, identity and first device keys, and a session.
pub struct Account {
    pub email: String,
    pub password: String,
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub device: KeyPair,
    /// The user's identity key pair (signs device certificates and the device-share proof).
    pub identity: KeyPair,
    pub token: String,
}

fn ksf() -> OpaqueKsf {
    OpaqueKsf::FLOOR
}

fn api_ksf() -> KsfParams {
    let k = ksf();
    KsfParams {
        m_kib: k.m_kib(),
        t: k.t(),
        p: k.p(),
    }
}

pub fn new_device(name: &str) -> (KeyPair, NewDevice) {
    let kp = KeyPair::generate().unwrap();
    let nd = NewDevice {
        name: name.to_owned(),
        public_keys: B64(kp.public().to_bytes().to_vec()),
        certificate: None,
        chain_link: None,
    };
    (kp, nd)
}

pub async fn register(app: &TestApp, email: &str, password: &str) -> Account {
    let user = OpaqueUser::from_email(email).unwrap();
    let pw = Password::new(password.to_owned());
    let (st, req) = opaque::client_register_start(&pw).unwrap();
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/register/start",
            None,
            Some(
                serde_json::to_value(RegisterStartRequest {
                    email: email.to_owned(),
                    request: B64(req),
                })
                .unwrap(),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let resp: RegisterStartResponse = serde_json::from_value(v).unwrap();
    let (upload, _export) =
        opaque::client_register_finish(st, &pw, &resp.response.0, &ksf(), &user).unwrap();
    let identity = KeyPair::generate().unwrap();
    let (device, mut nd) = new_device("laptop");
    // the first device self-certifies, with ids the client picks
    let (uid, did) = (
        *uuid::Uuid::new_v4().as_bytes(),
        *uuid::Uuid::new_v4().as_bytes(),
    );
    let cert =
        DeviceCertificate::issue(&identity, uid, did, &device.public(), 1_700_000_000).unwrap();
    nd.certificate = Some(B64(cert.as_bytes().to_vec()));
    // ... and starts the device chain (protocol.md §14.5)
    let genesis = ChainLink::add(None, did, &device.public(), 1_700_000_000, &identity).unwrap();
    nd.chain_link = Some(B64(genesis.as_bytes().to_vec()));
    let body = RegisterFinishRequest {
        email: email.to_owned(),
        upload: B64(upload),
        account: AccountKeys {
            identity_public: B64(identity.public().to_bytes().to_vec()),
            bundle: B64(b"sealed identity bundle".to_vec()),
            account_state: B64(b"signed account state".to_vec()),
            ksf: api_ksf(),
        },
        device: nd,
    };
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/register/finish",
            None,
            Some(serde_json::to_value(body).unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let r: LoginResult = serde_json::from_value(v).unwrap();
    assert!(!r.mfa_pending);
    assert_eq!(
        r.user_id.as_uuid().as_bytes(),
        &uid,
        "ids taken from the certificate"
    );
    assert_eq!(r.device_id.as_uuid().as_bytes(), &did);
    Account {
        email: email.to_owned(),
        password: password.to_owned(),
        user_id: r.user_id,
        device_id: r.device_id,
        device,
        identity,
        token: r.session.token,
    }
}

/// Runs the OPAQUE login; returns the HTTP status and body of `login/finish` (or of
/// `login/start` when that fails).
pub async fn login_raw(
    app: &TestApp,
    email: &str,
    password: &str,
    device: DeviceRef,
) -> (StatusCode, Value) {
    let user = OpaqueUser::from_email(email).unwrap();
    let pw = Password::new(password.to_owned());
    let (st, req) = opaque::client_login_start(&pw).unwrap();
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/login/start",
            None,
            Some(
                serde_json::to_value(LoginStartRequest {
                    email: email.to_owned(),
                    request: B64(req),
                })
                .unwrap(),
            ),
        )
        .await;
    if s != StatusCode::OK {
        return (s, v);
    }
    let start: LoginStartResponse = serde_json::from_value(v).unwrap();
    let k = OpaqueKsf::new(start.ksf.m_kib, start.ksf.t, start.ksf.p).unwrap();
    // A wrong password fails on the client already; send a finalization of the right size so
    // the server decides (as a hostile client would).
    let finalization = match opaque::client_login_finish(
        st,
        &pw,
        &start.response.0,
        &k,
        &user,
        OPAQUE_LOGIN_CONTEXT,
    ) {
        Ok((fin, _, _)) => fin,
        Err(_) => vec![0u8; opaque::CREDENTIAL_FINALIZATION_LEN],
    };
    let body = LoginFinishRequest {
        login_id: start.login_id,
        finalization: B64(finalization),
        device,
    };
    app.call(
        Method::POST,
        "/v1/auth/login/finish",
        None,
        Some(serde_json::to_value(body).unwrap()),
    )
    .await
}

pub async fn login(app: &TestApp, acct: &Account) -> LoginResult {
    let (s, v) = login_raw(
        app,
        &acct.email,
        &acct.password,
        DeviceRef::Existing(acct.device_id),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    serde_json::from_value(v).unwrap()
}

pub fn json_body(v: Value) -> Option<Value> {
    Some(v)
}

pub fn empty() -> Value {
    json!({})
}

/// The links of `user`'s device chain as the server serves them to `token`.
pub async fn chain_links(app: &TestApp, token: &str, user: UserId) -> Vec<ChainLink> {
    let (s, v) = app.get(&format!("/v1/users/{user}/chain"), token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| ChainLink::from_bytes(&unb64(l)).unwrap())
        .collect()
}

/// The next link of `user`'s chain (as served to `token`): adds (`add`) or revokes `device`
/// with `keys`, signed by `signer`. Its bytes.
pub async fn next_link(
    app: &TestApp,
    token: &str,
    user: UserId,
    add: bool,
    device: DeviceId,
    keys: &coffer_crypto::PublicKeys,
    signer: &KeyPair,
) -> Vec<u8> {
    let links = chain_links(app, token, user).await;
    let id = *device.as_uuid().as_bytes();
    let l = if add {
        ChainLink::add(links.last(), id, keys, 1_700_000_100, signer)
    } else {
        ChainLink::revoke(links.last(), id, keys, 1_700_000_100, signer)
    };
    l.unwrap().as_bytes().to_vec()
}
