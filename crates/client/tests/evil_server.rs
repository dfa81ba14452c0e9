//! The client against a malicious server (THREATS.md (a): KDF downgrade, forged account state,
//! hierarchy downgrade, swapped bundle). The "server" is an in-process fake that speaks the
//! HTTP API of `docs/api.md` and runs real OPAQUE (`coffer_crypto::opaque` server side), then
//! lies in one way per test. Each test checks the client refuses, and — for the KSF floor —
//! that nothing derived from the password was sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use coffer_client::account::{AccountState, seal_bundle};
use coffer_client::keystore::Backend;
use coffer_client::profile::Profile;
use coffer_client::{Client, ClientError, LoginProgress};
use coffer_crypto::Password;
use coffer_crypto::identity::KeyPair;
use coffer_crypto::opaque;
use coffer_proto::api::{
    AccountKeys, B64, KsfParams, LoginResult, LoginStartRequest, LoginStartResponse,
    RegisterFinishRequest, RegisterStartRequest, RegisterStartResponse, SessionToken,
};
use coffer_proto::{DeviceId, DeviceState, SessionId, UserId};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const EMAIL: &str = "victim@evil.test";
const PASSWORD: &str = "canary-password-never-sent";

/// How the fake server lies at login.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lie {
    None,
    /// `login/start` answers KSF parameters below the floor.
    KsfBelowFloor,
    /// `/v1/account` serves a state signed by another identity key.
    ForgedState,
    /// `/v1/account` serves a bundle sealed under another key.
    SwappedBundle,
    /// `/v1/account` claims other KSF parameters than those used at login.
    OtherKsf,
    /// `/v1/devices/{id}/share` serves another share than the one the device was sealed with.
    WrongShare,
}

struct Fake {
    setup: opaque::ServerSetup,
    file: Option<Vec<u8>>,
    account: Option<AccountKeys>,
    lie: Lie,
    /// Every request seen: (path, body).
    seen: Vec<(String, Value)>,
    login_state: Option<opaque::ServerLoginState>,
}

fn login_result() -> Value {
    serde_json::to_value(LoginResult {
        user_id: UserId::new_random(),
        device_id: DeviceId::new_random(),
        device_state: DeviceState::Trusted,
        session: SessionToken {
            session_id: SessionId::new_random(),
            token: "fake-token".into(),
            expires_at: 4_000_000_000,
        },
        mfa_pending: false,
    })
    .unwrap()
}

fn handle(f: &mut Fake, path: &str, body: &[u8]) -> (u16, Value) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    f.seen.push((path.to_owned(), v.clone()));
    let user = opaque::UserId::from_email(EMAIL).unwrap();
    match path {
        "/v1/auth/register/start" => {
            let r: RegisterStartRequest = serde_json::from_value(v).unwrap();
            let resp = opaque::server_register_start(&f.setup, &r.request.0, &user).unwrap();
            let out = RegisterStartResponse {
                response: B64(resp),
            };
            (200, serde_json::to_value(out).unwrap())
        }
        "/v1/auth/register/finish" => {
            let r: RegisterFinishRequest = serde_json::from_value(v).unwrap();
            f.file = Some(opaque::server_register_finish(&r.upload.0).unwrap());
            f.account = Some(r.account);
            // like the real server: the ids named in the device certificate
            let cert = coffer_crypto::chain::DeviceCertificate::from_bytes(
                &r.device.certificate.unwrap().0,
            )
            .unwrap();
            let mut out = login_result();
            out["user_id"] = json!(uuid::Uuid::from_bytes(*cert.user_id()).to_string());
            out["device_id"] = json!(uuid::Uuid::from_bytes(*cert.device_id()).to_string());
            (201, out)
        }
        "/v1/auth/login/start" => {
            let r: LoginStartRequest = serde_json::from_value(v).unwrap();
            let ksf = if f.lie == Lie::KsfBelowFloor {
                KsfParams {
                    m_kib: 8,
                    t: 1,
                    p: 1,
                }
            } else {
                f.account.as_ref().unwrap().ksf
            };
            let (state, resp) = opaque::server_login_start(
                &f.setup,
                f.file.as_deref(),
                &r.request.0,
                &user,
                coffer_client::LOGIN_CONTEXT,
            )
            .unwrap();
            f.login_state = Some(state);
            let out = LoginStartResponse {
                login_id: "l1".into(),
                response: B64(resp),
                ksf,
            };
            (200, serde_json::to_value(out).unwrap())
        }
        "/v1/auth/login/finish" => {
            let fin = B64(serde_json::from_value::<B64>(v["finalization"].clone())
                .unwrap()
                .0);
            let state = f.login_state.take().unwrap();
            match opaque::server_login_finish(state, &fin.0) {
                Ok(_) => {
                    // like the real server: an existing device keeps its id
                    let mut out = login_result();
                    if let Some(id) = v["device"].get("existing") {
                        out["device_id"] = id.clone();
                    }
                    (200, out)
                }
                Err(_) => (
                    401,
                    json!({"code": "unauthorized", "message": "login failed"}),
                ),
            }
        }
        "/v1/account" => {
            let mut keys = f.account.clone().unwrap();
            match f.lie {
                Lie::ForgedState => {
                    let evil = KeyPair::generate().unwrap();
                    let st = AccountState::new(keys.ksf, evil.public(), EMAIL).unwrap();
                    keys.account_state = B64(st.sign(&evil).unwrap());
                }
                Lie::SwappedBundle => {
                    let kek = coffer_crypto::SymmetricKey::generate().unwrap();
                    let evil = KeyPair::generate().unwrap();
                    keys.bundle = B64(seal_bundle(&kek, EMAIL, &evil).unwrap().into_bytes());
                }
                Lie::OtherKsf => {
                    keys.ksf = KsfParams {
                        m_kib: keys.ksf.m_kib * 2,
                        ..keys.ksf
                    };
                }
                Lie::None | Lie::KsfBelowFloor | Lie::WrongShare => {}
            }
            (200, serde_json::to_value(keys).unwrap())
        }
        "/v1/auth/logout" => (204, Value::Null),
        p if p.starts_with("/v1/devices/") && p.ends_with("/challenge") => {
            (200, json!({ "challenge": B64(vec![3; 32]) }))
        }
        p if p.starts_with("/v1/devices/") && p.ends_with("/share") => {
            let b = if f.lie == Lie::WrongShare { 6 } else { 5 };
            (200, json!({ "share": B64(vec![b; 32]) }))
        }
        _ => (
            404,
            json!({"code": "not_found", "message": format!("no route {path}")}),
        ),
    }
}

/// Serves the fake on a loopback port; returns its URL.
async fn serve(fake: Arc<Mutex<Fake>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let fake = fake.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let body = buf[head_end..].to_vec();
                let (status, v) = handle(&mut fake.lock().unwrap(), &path, &body);
                let text = if status == 204 {
                    String::new()
                } else {
                    v.to_string()
                };
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: \
                     {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// Signs up honestly against the fake, then returns a fresh profile (no device keys) ready to
/// log in, with the fake set to `lie`.
async fn setup(lie: Lie) -> (Arc<Mutex<Fake>>, Client, tempfile::TempDir) {
    let fake = Arc::new(Mutex::new(Fake {
        setup: opaque::ServerSetup::generate(),
        file: None,
        account: None,
        lie: Lie::None,
        seen: Vec::new(),
        login_state: None,
    }));
    let url = serve(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut first =
        Client::with_profile(Profile::open_in(dir.path(), "first").unwrap(), Some(&url)).unwrap();
    first.set_keystore(Backend::File);
    first
        .signup_with_ksf(
            EMAIL,
            &Password::new(PASSWORD.into()),
            Some("first"),
            coffer_client::ksf::KSF_FLOOR,
        )
        .await
        .unwrap();
    let mut second =
        Client::with_profile(Profile::open_in(dir.path(), "second").unwrap(), Some(&url)).unwrap();
    second.set_keystore(Backend::File);
    {
        let mut f = fake.lock().unwrap();
        f.lie = lie;
        f.seen.clear();
    }
    (fake, second, dir)
}

async fn login(c: &mut Client) -> Result<LoginProgress, ClientError> {
    c.login(EMAIL, &Password::new(PASSWORD.into()), Some("second"))
        .await
}

#[tokio::test]
async fn honest_server_logs_in() {
    let (_fake, mut c, _dir) = setup(Lie::None).await;
    match login(&mut c).await.unwrap() {
        LoginProgress::Done(o) => {
            assert!(o.new_device);
            assert_eq!(o.email, EMAIL);
        }
        LoginProgress::NeedsMfa(_) => panic!("no MFA here"),
    }
}

#[tokio::test]
async fn ksf_below_floor_is_refused_before_anything_derived_is_sent() {
    let (fake, mut c, _dir) = setup(Lie::KsfBelowFloor).await;
    let e = login(&mut c).await.unwrap_err();
    assert!(
        matches!(e, ClientError::KsfBelowFloor { m_kib: 8, t: 1 }),
        "{e:?}"
    );
    let f = fake.lock().unwrap();
    let paths: Vec<&str> = f.seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/v1/auth/login/start"], "nothing after login/start");
    for (_, body) in &f.seen {
        assert!(!body.to_string().contains(PASSWORD));
    }
    assert!(c.profile().session().unwrap().is_none());
}

#[tokio::test]
async fn forged_account_state_is_refused() {
    let (_fake, mut c, _dir) = setup(Lie::ForgedState).await;
    let e = login(&mut c).await.unwrap_err();
    assert!(matches!(e, ClientError::AccountState(_)), "{e:?}");
    assert!(c.profile().session().unwrap().is_none());
}

#[tokio::test]
async fn swapped_bundle_is_refused() {
    let (_fake, mut c, _dir) = setup(Lie::SwappedBundle).await;
    let e = login(&mut c).await.unwrap_err();
    assert!(matches!(e, ClientError::AccountState(_)), "{e:?}");
    assert!(c.profile().session().unwrap().is_none());
}

#[tokio::test]
async fn other_ksf_in_account_keys_is_refused() {
    let (_fake, mut c, _dir) = setup(Lie::OtherKsf).await;
    let e = login(&mut c).await.unwrap_err();
    assert!(matches!(e, ClientError::AccountState(_)), "{e:?}");
}

#[tokio::test]
async fn account_state_downgrade_is_refused() {
    let (_fake, c, dir) = setup(Lie::None).await;
    drop(c);
    // This profile has seen a (future) version 2; the server serves version 1.
    let profile = Profile::open_in(dir.path(), "second").unwrap();
    let mut cfg = profile.config().unwrap();
    cfg.account_state_version = 2;
    profile.save_config(&cfg).unwrap();
    let url = {
        let first = Profile::open_in(dir.path(), "first").unwrap();
        first.config().unwrap().server.unwrap()
    };
    let mut c = Client::with_profile(profile, Some(&url)).unwrap();
    c.set_keystore(Backend::File);
    let e = login(&mut c).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Downgrade { seen: 2, got: 1 }),
        "{e:?}"
    );
}

#[tokio::test]
async fn unlock_with_a_wrong_share_fails_clearly_and_stays_locked() {
    let (fake, mut c, _dir) = setup(Lie::None).await;
    assert!(matches!(
        login(&mut c).await.unwrap(),
        LoginProgress::Done(_)
    ));
    let keys = c.keys().unwrap();
    assert!(format!("{keys:?}").contains(&keys.device_id.to_string()));
    let pw = Password::new(PASSWORD.into());
    // a raw unlock prints S and stores nothing: this process (no COFFER_SESSION) is locked
    let s = c.unlock(&pw, true).await.unwrap().unwrap();
    assert_eq!(s.len(), 43);
    assert!(matches!(c.keys(), Err(ClientError::Locked)));
    c.unlock(&pw, false).await.unwrap();
    assert_eq!(c.keys().unwrap().device.public(), keys.device.public());
    assert!(c.lock().unwrap());
    assert!(matches!(c.keys(), Err(ClientError::Locked)));
    fake.lock().unwrap().lie = Lie::WrongShare;
    let e = c.unlock(&pw, false).await.unwrap_err();
    assert!(e.to_string().contains("device key does not open"), "{e}");
    assert!(matches!(c.keys(), Err(ClientError::Locked)));
}
