//! End-to-end tests of the HTTP API, in process. Every scenario runs on SQLite; with
//! `COFFER_TEST_POSTGRES=1` the `postgres_suite` test runs them all again on a throwaway
//! PostgreSQL cluster (the store's harness).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod startup;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use coffer_crypto::identity::KeyPair;
use coffer_crypto::otp::Totp;
use coffer_proto::api::{DEVICE_SHARE_LABEL, DeviceRef, LoginResult};
use coffer_proto::{DeviceId, DeviceState};
use coffer_server::devices::share_message;
use coffer_server::throttle::ThrottleConfig;
use common::*;
use serde_json::{Value, json};

async fn app(b: &Backend<'_>) -> TestApp {
    TestApp::start(b, Options::default()).await
}

// --- auth -------------------------------------------------------------------------------------

async fn signup_and_login(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "Alice@Example.com", "correct horse").await;

    let (s, v) = app.get("/v1/status", &a.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["email"], "alice@example.com");
    assert_eq!(v["mfa_pending"], false);
    assert_eq!(v["device_id"], a.device_id.to_string());

    let (s, v) = app.get("/v1/account", &a.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(unb64(&v["bundle"]), b"sealed identity bundle");
    assert_eq!(v["ksf"]["m_kib"], 19456);

    // duplicate email (any case)
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/register/start",
            None,
            Some(json!({"email": "ALICE@example.com", "request": b64(&[1u8; 32])})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "conflict");

    // a certificate not signed by the account's identity key is refused
    {
        use coffer_crypto::chain::DeviceCertificate;
        use coffer_proto::api::{AccountKeys, B64, KsfParams, RegisterFinishRequest};
        let pw = coffer_crypto::Password::new("pw".into());
        let user = coffer_crypto::opaque::UserId::from_email("zed@example.com").unwrap();
        let (st, req) = coffer_crypto::opaque::client_register_start(&pw).unwrap();
        let (_, v) = app
            .call(
                Method::POST,
                "/v1/auth/register/start",
                None,
                Some(json!({"email": "zed@example.com", "request": b64(&req)})),
            )
            .await;
        let k = coffer_crypto::opaque::KsfParams::FLOOR;
        let (upload, _) = coffer_crypto::opaque::client_register_finish(
            st,
            &pw,
            &unb64(&v["response"]),
            &k,
            &user,
        )
        .unwrap();
        let identity = KeyPair::generate().unwrap();
        let intruder = KeyPair::generate().unwrap();
        let (dev_kp, mut nd) = new_device("laptop");
        let cert =
            DeviceCertificate::issue(&intruder, [1; 16], [2; 16], &dev_kp.public(), 0).unwrap();
        nd.certificate = Some(B64(cert.as_bytes().to_vec()));
        let body = RegisterFinishRequest {
            email: "zed@example.com".into(),
            upload: B64(upload),
            account: AccountKeys {
                identity_public: B64(identity.public().to_bytes().to_vec()),
                bundle: B64(vec![1]),
                account_state: B64(vec![2]),
                ksf: KsfParams {
                    m_kib: k.m_kib(),
                    t: k.t(),
                    p: k.p(),
                },
            },
            device: nd,
        };
        let (s, v) = app
            .call(
                Method::POST,
                "/v1/auth/register/finish",
                None,
                Some(serde_json::to_value(&body).unwrap()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("certificate"),
            "{v}"
        );
        // nothing was stored
        assert!(
            app.state
                .main
                .user_by_email("zed@example.com")
                .await
                .is_err()
        );
        // a right certificate without the genesis link of the device chain: refused too
        let mut body = body;
        assert!(body.device.chain_link.is_none());
        let cert =
            DeviceCertificate::issue(&identity, [1; 16], [2; 16], &dev_kp.public(), 0).unwrap();
        body.device.certificate = Some(B64(cert.as_bytes().to_vec()));
        let (s, v) = app
            .call(
                Method::POST,
                "/v1/auth/register/finish",
                None,
                Some(serde_json::to_value(&body).unwrap()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().unwrap().contains("chain_link"), "{v}");
        // a genesis signed by the device key instead of the identity: refused
        let l0 = coffer_crypto::chain::ChainLink::add(None, [2; 16], &dev_kp.public(), 0, &dev_kp)
            .unwrap();
        body.device.chain_link = Some(B64(l0.as_bytes().to_vec()));
        let (s, v) = app
            .call(
                Method::POST,
                "/v1/auth/register/finish",
                None,
                Some(serde_json::to_value(&body).unwrap()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("signer is not trusted"),
            "{v}"
        );
        assert!(
            app.state
                .main
                .user_by_email("zed@example.com")
                .await
                .is_err()
        );
    }

    // login with the existing device
    let r = login(&app, &a).await;
    assert_eq!(r.user_id, a.user_id);
    assert_eq!(r.device_id, a.device_id);
    assert_eq!(r.device_state, DeviceState::Trusted);
    assert!(!r.mfa_pending);
    let (s, _) = app.get("/v1/status", &r.session.token).await;
    assert_eq!(s, StatusCode::OK);

    // a new device at login is pending
    let (_, nd) = new_device("phone");
    let (s, v) = login_raw(&app, &a.email, &a.password, DeviceRef::New(nd)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r: LoginResult = serde_json::from_value(v).unwrap();
    assert_eq!(r.device_state, DeviceState::Pending);
    let (s, v) = app.get("/v1/devices", &a.token).await;
    assert_eq!(s, StatusCode::OK);
    let devices = v.as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert!(
        devices
            .iter()
            .any(|d| d["state"] == "pending" && d["name"] == "phone")
    );
    assert!(
        devices
            .iter()
            .any(|d| d["state"] == "trusted" && d["current"] == true)
    );

    // a device of someone else is refused
    let bob = register(&app, "bob@example.com", "pw-bob-123").await;
    let (s, _) = login_raw(
        &app,
        &a.email,
        &a.password,
        DeviceRef::Existing(bob.device_id),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let entries = app.audit_actions().await;
    assert!(entries.iter().any(|e| e.action == "user.register"));
    assert!(entries.iter().any(|e| e.action == "auth.login"
        && e.details.contains("\"new_device\":true")
        && e.actor_device_id == Some(r.device_id)));
    assert!(
        entries
            .iter()
            .any(|e| e.action == "auth.login" && e.details.contains("\"new_device\":false"))
    );
}

async fn wrong_password_and_unknown_email_look_the_same(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "carol@example.com", "right password").await;

    let dev = || DeviceRef::Existing(a.device_id);
    let (s1, v1) = login_raw(&app, &a.email, "wrong password", dev()).await;
    let (s2, v2) = login_raw(&app, "nobody@example.com", "whatever", dev()).await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(v1, v2, "identical bodies");
    assert_eq!(v1["code"], "unauthorized");

    // the unknown email got a login/start answer of the same shape
    let (_, req) =
        coffer_crypto::opaque::client_login_start(&coffer_crypto::Password::new("x".into()))
            .unwrap();
    let mut shapes = vec![];
    for email in [a.email.as_str(), "ghost@example.com"] {
        let (s, v) = app
            .call(
                Method::POST,
                "/v1/auth/login/start",
                None,
                Some(json!({"email": email, "request": b64(&req)})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        shapes.push((
            unb64(&v["response"]).len(),
            keys,
            v["login_id"].as_str().unwrap().len(),
        ));
        if email != a.email {
            // an unknown account answers with the default parameters (an account registered
            // with other parameters is told apart by them: docs/api.md)
            assert_eq!(v["ksf"], json!({"m_kib": 65536, "t": 3, "p": 1}));
        }
    }
    assert_eq!(shapes[0], shapes[1]);

    let failed: Vec<_> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|e| e.action == "auth.login_failed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].target, "carol@example.com");
    assert_eq!(failed[0].actor_user_id, Some(a.user_id));
    assert_eq!(failed[1].target, "nobody@example.com");
    assert_eq!(failed[0].remote_addr.as_deref(), Some("127.0.0.1"));

    // a login_id works once
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/login/finish",
            None,
            Some(json!({"login_id": "nope", "finalization": b64(&[0; 64]),
                        "device": {"existing": a.device_id}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v, v1);
}

async fn login_throttling(b: &Backend<'_>) {
    let app = TestApp::start(
        b,
        Options {
            throttle: ThrottleConfig {
                per_account: 3,
                per_address: 100,
                window: Duration::from_secs(900),
            },
            ..Options::default()
        },
    )
    .await;
    let a = register(&app, "dave@example.com", "secret one").await;
    for _ in 0..3 {
        let (s, _) = login_raw(&app, &a.email, "bad", DeviceRef::Existing(a.device_id)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // even the right password is refused now, with Retry-After
    let (_, req) =
        coffer_crypto::opaque::client_login_start(&coffer_crypto::Password::new("x".into()))
            .unwrap();
    let (s, h, v) = app
        .call_full(
            Method::POST,
            "/v1/auth/login/start",
            None,
            Some(json!({"email": a.email, "request": b64(&req)})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "rate_limited");
    let retry: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900);
    let (s, _) = login_raw(
        &app,
        &a.email,
        &a.password,
        DeviceRef::Existing(a.device_id),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // another account is not affected
    let e = register(&app, "erin@example.com", "pw erin").await;
    login(&app, &e).await;
}

// --- sessions ---------------------------------------------------------------------------------

async fn sessions_expire_refresh_revoke(b: &Backend<'_>) {
    let app = TestApp::start(
        b,
        Options {
            session_ttl: Duration::from_secs(2),
            ..Options::default()
        },
    )
    .await;
    let a = register(&app, "frank@example.com", "pw frank").await;
    let (s, _) = app.get("/v1/status", &a.token).await;
    assert_eq!(s, StatusCode::OK);

    // refresh: new token works, old one is revoked
    let (s, v) = app.post("/v1/auth/refresh", &a.token, json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let fresh = v["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, a.token);
    assert_eq!(
        app.get("/v1/status", &a.token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/v1/status", &fresh).await.0, StatusCode::OK);

    // expiry
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, v) = app.get("/v1/status", &fresh).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["code"], "unauthorized");

    // list and revoke another session; logout
    let s1 = login(&app, &a).await.session;
    let s2 = login(&app, &a).await.session;
    let (s, v) = app.get("/v1/sessions", &s1.token).await;
    assert_eq!(s, StatusCode::OK);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|r| r["current"] == true && r["session_id"] == s1.session_id.to_string())
    );
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/sessions/{}", s2.session_id),
            Some(&s1.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/status", &s2.token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = app.post("/v1/auth/logout", &s1.token, json!(null)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/status", &s1.token).await.0,
        StatusCode::UNAUTHORIZED
    );

    // no token, garbage token
    assert_eq!(
        app.call(Method::GET, "/v1/status", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/status", "garbage").await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn device_revoke_kills_sessions(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "gina@example.com", "pw gina").await;
    let (_, nd) = new_device("tablet");
    let (s, v) = login_raw(&app, &a.email, &a.password, DeviceRef::New(nd)).await;
    assert_eq!(s, StatusCode::OK);
    let tablet: LoginResult = serde_json::from_value(v).unwrap();
    assert_eq!(
        app.get("/v1/status", &tablet.session.token).await.0,
        StatusCode::OK
    );

    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", tablet.device_id),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/status", &tablet.session.token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // and it cannot log in again
    let (s, _) = login_raw(
        &app,
        &a.email,
        &a.password,
        DeviceRef::Existing(tablet.device_id),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/status", &a.token).await.0, StatusCode::OK);
    // someone else's device: not found
    let h = register(&app, "hank@example.com", "pw hank").await;
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", a.device_id),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

// --- device share -----------------------------------------------------------------------------

async fn get_challenge(app: &TestApp, token: &str, device: &str) -> (StatusCode, Vec<u8>) {
    let (s, v) = app
        .post(
            &format!("/v1/devices/{device}/challenge"),
            token,
            json!(null),
        )
        .await;
    if s != StatusCode::OK {
        return (s, vec![]);
    }
    (s, unb64(&v["challenge"]))
}

/// The identity key's signature over a challenge for device `id` (the `device-share` proof).
fn sign_share(kp: &KeyPair, challenge: &[u8], id: DeviceId) -> Vec<u8> {
    let c: [u8; 32] = challenge.try_into().unwrap();
    kp.sign(DEVICE_SHARE_LABEL, &share_message(&c, id))
        .unwrap()
        .to_vec()
}

/// `POST /v1/devices/{device}/share` with this challenge and signature.
async fn ask_share(
    app: &TestApp,
    token: &str,
    device: &str,
    challenge: &[u8],
    signature: &[u8],
) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/devices/{device}/share"),
        token,
        json!({"challenge": b64(challenge), "signature": b64(signature)}),
    )
    .await
}

/// A fresh challenge for device `id`, signed by the identity key `kp`, exchanged for the share (must succeed).
async fn fetch_share(app: &TestApp, token: &str, id: DeviceId, kp: &KeyPair) -> Vec<u8> {
    let dev = id.to_string();
    let (_, c) = get_challenge(app, token, &dev).await;
    let (s, v) = ask_share(app, token, &dev, &c, &sign_share(kp, &c, id)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    unb64(&v["share"])
}

async fn device_share_challenge_response(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "ivy@example.com", "pw ivy").await;
    let dev = a.device_id.to_string();

    let (s, c) = get_challenge(&app, &a.token, &dev).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c.len(), 32);
    // the device's own key no longer proves anything (protocol.md §8.3): identity key only
    let (s, _) = ask_share(
        &app,
        &a.token,
        &dev,
        &c,
        &sign_share(&a.device, &c, a.device_id),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, c) = get_challenge(&app, &a.token, &dev).await;
    let sig = sign_share(&a.identity, &c, a.device_id);
    let (s, v) = ask_share(&app, &a.token, &dev, &c, &sig).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let share = unb64(&v["share"]);
    assert_eq!(share.len(), 32);

    // replaying the same challenge and signature
    let (s, v) = ask_share(&app, &a.token, &dev, &c, &sig).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // a signature by another key
    let (_, c) = get_challenge(&app, &a.token, &dev).await;
    let other = KeyPair::generate().unwrap();
    let (s, _) = ask_share(
        &app,
        &a.token,
        &dev,
        &c,
        &sign_share(&other, &c, a.device_id),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // the challenge was consumed by the failed attempt
    let (s, _) = ask_share(
        &app,
        &a.token,
        &dev,
        &c,
        &sign_share(&a.identity, &c, a.device_id),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // a signature with another label does not verify
    let (_, c) = get_challenge(&app, &a.token, &dev).await;
    let c32: [u8; 32] = c.as_slice().try_into().unwrap();
    let wrong_label = a
        .identity
        .sign("grant", &share_message(&c32, a.device_id))
        .unwrap();
    let (s, _) = ask_share(&app, &a.token, &dev, &c, &wrong_label).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // a session of another device cannot ask for this device's share
    let (_phone_kp, nd) = new_device("phone");
    let (_, v) = login_raw(&app, &a.email, &a.password, DeviceRef::New(nd)).await;
    let phone: LoginResult = serde_json::from_value(v).unwrap();
    let (s, _) = get_challenge(&app, &phone.session.token, &dev).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // ... nor reuse a challenge issued to the first device's session
    let (_, c) = get_challenge(&app, &a.token, &dev).await;
    let sig = sign_share(&a.identity, &c, a.device_id);
    let (s, _) = ask_share(&app, &phone.session.token, &dev, &c, &sig).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // the phone gets its own, different share
    let phone_share = fetch_share(&app, &phone.session.token, phone.device_id, &a.identity).await;
    assert_ne!(phone_share, share);

    // the same share again after a fresh challenge
    assert_eq!(
        fetch_share(&app, &a.token, a.device_id, &a.identity).await,
        share
    );

    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions
            .iter()
            .filter(|a| *a == "device.share_released")
            .count()
            >= 3
    );
    assert!(actions.iter().any(|a| a == "device.share_denied"));
}

// --- MFA --------------------------------------------------------------------------------------

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn enable_mfa(app: &TestApp, token: &str) -> (Totp, Vec<String>) {
    let (s, v) = app.post("/v1/mfa/enroll", token, json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let uri = v["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"));
    let totp = Totp::from_uri(uri).unwrap();
    // a wrong code does not confirm
    let (s, _) = app
        .post("/v1/mfa/confirm", token, json!({"code": "000000x"}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let code = totp.code_at(now()).unwrap();
    let (s, v) = app
        .post("/v1/mfa/confirm", token, json!({"code": code}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let codes: Vec<String> = serde_json::from_value(v["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    (totp, codes)
}

async fn mfa_enrol_login_recovery(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "jack@example.com", "pw jack").await;
    let (totp, codes) = enable_mfa(&app, &a.token).await;
    let (_, v) = app.get("/v1/status", &a.token).await;
    assert_eq!(v["mfa_enabled"], true);

    // the secret is not stored in clear in the main store
    let user = app.state.main.user(a.user_id).await.unwrap();
    let stored = user.mfa.totp_secret.unwrap();
    assert_eq!(stored.len(), 32, "a value-store pointer");
    assert_ne!(stored, totp.secret().expose_secret().to_vec());

    // a login is MFA-pending
    let r = login(&app, &a).await;
    assert!(r.mfa_pending);
    let t = r.session.token.clone();
    let (s, v) = app.get("/v1/workspaces", &t).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"], "mfa_required");
    let (s, v) = app.get("/v1/status", &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["mfa_pending"], true);
    let (s, _) = app.post("/v1/auth/mfa", &t, json!({"code": "123"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .post(
            "/v1/auth/mfa",
            &t,
            json!({"code": totp.code_at(now()).unwrap()}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/workspaces", &t).await.0, StatusCode::OK);

    // a code of the previous step is accepted (±1 step)
    let r = login(&app, &a).await;
    let (s, _) = app
        .post(
            "/v1/auth/mfa",
            &r.session.token,
            json!({"code": totp.code_at(now() - 30).unwrap()}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // recovery code: once
    let r = login(&app, &a).await;
    let (s, _) = app
        .post(
            "/v1/auth/mfa",
            &r.session.token,
            json!({"recovery_code": codes[0].to_uppercase()}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = login(&app, &a).await;
    let (s, _) = app
        .post(
            "/v1/auth/mfa",
            &r.session.token,
            json!({"recovery_code": codes[0]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .post(
            "/v1/auth/mfa",
            &r.session.token,
            json!({"recovery_code": codes[1]}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // pending sessions may log out
    let r = login(&app, &a).await;
    let (s, _) = app
        .post("/v1/auth/logout", &r.session.token, json!(null))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // disable needs a code
    let (s, _) = app
        .post("/v1/mfa/disable", &a.token, json!({"code": "000000"}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .post(
            "/v1/mfa/disable",
            &a.token,
            json!({"code": totp.code_at(now()).unwrap()}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = login(&app, &a).await;
    assert!(!r.mfa_pending);

    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    for want in [
        "mfa.enroll",
        "mfa.enable",
        "auth.mfa_verified",
        "auth.mfa_failed",
        "mfa.disable",
    ] {
        assert!(actions.iter().any(|a| a == want), "missing {want}");
    }
}

// --- workspaces -------------------------------------------------------------------------------

async fn create_ws(app: &TestApp, token: &str, name: &str) -> String {
    let (s, v) = app
        .post("/v1/workspaces", token, json!({"name": name}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["workspace_id"].as_str().unwrap().to_owned()
}

async fn invite_and_join(app: &TestApp, ws: &str, by: &str, who: &Account, role: &str) {
    let (s, v) = app
        .post(
            &format!("/v1/workspaces/{ws}/invites"),
            by,
            json!({"email": who.email, "role": role}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["invite_id"].as_str().unwrap().to_owned();
    let (s, v) = app.get("/v1/invites", &who.token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|i| i["invite_id"] == id.as_str())
    );
    let (s, v) = app
        .post(&format!("/v1/invites/{id}/accept"), &who.token, json!(null))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

async fn put_role(app: &TestApp, ws: &str, token: &str, user: &Account, role: &str) -> StatusCode {
    app.call(
        Method::PUT,
        &format!("/v1/workspaces/{ws}/members/{}", user.user_id),
        Some(token),
        Some(json!({"role": role})),
    )
    .await
    .0
}

async fn delete_member(app: &TestApp, ws: &str, token: &str, user: &Account) -> StatusCode {
    app.call(
        Method::DELETE,
        &format!("/v1/workspaces/{ws}/members/{}", user.user_id),
        Some(token),
        None,
    )
    .await
    .0
}

async fn workspaces_invites_roles(b: &Backend<'_>) {
    let app = app(b).await;
    let owner = register(&app, "olga@example.com", "pw olga").await;
    let admin = register(&app, "adam@example.com", "pw adam").await;
    let dev = register(&app, "dora@example.com", "pw dora").await;
    let outsider = register(&app, "otto@example.com", "pw otto").await;

    let ws = create_ws(&app, &owner.token, "acme").await;
    let (s, _) = app
        .post("/v1/workspaces", &admin.token, json!({"name": "acme"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, v) = app.get("/v1/workspaces", &owner.token).await;
    assert_eq!(v[0]["role"], "owner");

    invite_and_join(&app, &ws, &owner.token, &admin, "admin").await;
    invite_and_join(&app, &ws, &admin.token, &dev, "developer").await;

    // an invite can be accepted only by its addressee, once
    let (_, v) = app
        .post(
            &format!("/v1/workspaces/{ws}/invites"),
            &owner.token,
            json!({"email": "nobody-yet@example.com", "role": "member"}),
        )
        .await;
    let inv = v["invite_id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .post(
            &format!("/v1/invites/{inv}/accept"),
            &outsider.token,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // admins cannot make owners, nor invite owners
    assert_eq!(
        put_role(&app, &ws, &admin.token, &dev, "owner").await,
        StatusCode::FORBIDDEN
    );
    let (s, _) = app
        .post(
            &format!("/v1/workspaces/{ws}/invites"),
            &admin.token,
            json!({"email": outsider.email, "role": "owner"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // admins change non-owners' roles
    assert_eq!(
        put_role(&app, &ws, &admin.token, &dev, "member").await,
        StatusCode::NO_CONTENT
    );
    // developers/members cannot
    assert_eq!(
        put_role(&app, &ws, &dev.token, &admin, "member").await,
        StatusCode::FORBIDDEN
    );
    // nobody but an owner demotes or removes an owner
    assert_eq!(
        put_role(&app, &ws, &admin.token, &owner, "admin").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete_member(&app, &ws, &admin.token, &owner).await,
        StatusCode::FORBIDDEN
    );
    // the last owner cannot leave, be demoted or removed
    assert_eq!(
        delete_member(&app, &ws, &owner.token, &owner).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        put_role(&app, &ws, &owner.token, &owner, "admin").await,
        StatusCode::CONFLICT
    );
    // with a second owner, the first may leave
    assert_eq!(
        put_role(&app, &ws, &owner.token, &admin, "owner").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete_member(&app, &ws, &owner.token, &owner).await,
        StatusCode::NO_CONTENT
    );
    // an outsider sees nothing
    let (s, _) = app
        .get(&format!("/v1/workspaces/{ws}/members"), &outsider.token)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // the member leaves
    assert_eq!(
        delete_member(&app, &ws, &dev.token, &dev).await,
        StatusCode::NO_CONTENT
    );
    let (_, v) = app
        .get(&format!("/v1/workspaces/{ws}/members"), &admin.token)
        .await;
    let members = v.as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["role"], "owner");

    // audit of the workspace (owner only now) and the chain
    let (s, v) = app
        .get(
            &format!("/v1/workspaces/{ws}/audit?limit=500"),
            &admin.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "workspace.create",
        "workspace.invite",
        "workspace.invite_accept",
        "workspace.member_role",
        "workspace.member_leave",
    ] {
        assert!(actions.contains(&want), "missing {want}: {actions:?}");
    }
    let (s, v) = app.get("/v1/audit/verify", &admin.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ok"], true);
    assert!(v["entries"].as_i64().unwrap() > 10);
    assert_eq!(v["first_broken"], Value::Null);
}

/// The policy table of docs/api.md, over HTTP, for each role.
async fn policy_table_over_http(b: &Backend<'_>) {
    let app = app(b).await;
    let owner = register(&app, "p-owner@example.com", "pw").await;
    let roles = ["owner", "admin", "developer", "member", "no-access"];
    let ws = create_ws(&app, &owner.token, "policy").await;
    // one actor per role (the owner role gets a second owner as actor)
    let mut actors = vec![];
    for r in roles {
        let a = register(&app, &format!("actor-{r}@example.com"), "pw").await;
        invite_and_join(&app, &ws, &owner.token, &a, r).await;
        actors.push(a);
    }
    let ok = |s: StatusCode| s.is_success();
    for (i, role) in roles.iter().enumerate() {
        let actor = &actors[i];
        let read = app
            .get(&format!("/v1/workspaces/{ws}/members"), &actor.token)
            .await
            .0;
        let audit = app
            .get(&format!("/v1/workspaces/{ws}/audit"), &actor.token)
            .await
            .0;
        let policy = app
            .call(
                Method::PUT,
                &format!("/v1/workspaces/{ws}/policy"),
                Some(&actor.token),
                Some(json!({"mfa_required": false})),
            )
            .await
            .0;
        let invite_admin = app
            .post(
                &format!("/v1/workspaces/{ws}/invites"),
                &actor.token,
                json!({"email": format!("x-{role}@example.com"), "role": "admin"}),
            )
            .await
            .0;
        let invite_owner = app
            .post(
                &format!("/v1/workspaces/{ws}/invites"),
                &actor.token,
                json!({"email": format!("y-{role}@example.com"), "role": "owner"}),
            )
            .await
            .0;
        let target = register(&app, &format!("t-{role}@example.com"), "pw").await;
        invite_and_join(&app, &ws, &owner.token, &target, "member").await;
        let change = put_role(&app, &ws, &actor.token, &target, "developer").await;
        let make_owner = put_role(&app, &ws, &actor.token, &target, "owner").await;
        let remove = delete_member(&app, &ws, &actor.token, &target).await;
        let expect = match *role {
            "owner" => [true, true, true, true, true, true, true, true],
            "admin" => [true, true, true, true, false, true, false, true],
            "developer" | "member" => [true, false, false, false, false, false, false, false],
            _ => [false, false, false, false, false, false, false, false],
        };
        let got = [
            ok(read),
            ok(audit),
            ok(policy),
            ok(invite_admin),
            ok(invite_owner),
            ok(change),
            ok(make_owner),
            ok(remove),
        ];
        assert_eq!(got, expect, "role {role}");
        for s in [
            read,
            audit,
            policy,
            invite_admin,
            invite_owner,
            change,
            make_owner,
            remove,
        ] {
            assert!(s.is_success() || s == StatusCode::FORBIDDEN, "{role}: {s}");
        }
    }
    // an owner removes another owner; everyone may leave
    let second_owner = &actors[0];
    assert_eq!(
        delete_member(&app, &ws, &owner.token, second_owner).await,
        StatusCode::NO_CONTENT
    );
    for a in &actors[1..] {
        assert_eq!(
            delete_member(&app, &ws, &a.token, a).await,
            StatusCode::NO_CONTENT
        );
    }
}

async fn workspace_mfa_policy(b: &Backend<'_>) {
    let app = app(b).await;
    let owner = register(&app, "kim@example.com", "pw kim").await;
    let member = register(&app, "lee@example.com", "pw lee").await;
    let ws = create_ws(&app, &owner.token, "strict").await;
    invite_and_join(&app, &ws, &owner.token, &member, "member").await;
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/v1/workspaces/{ws}/policy"),
            Some(&owner.token),
            Some(json!({"mfa_required": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = app
        .get(&format!("/v1/workspaces/{ws}/members"), &member.token)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"], "mfa_required");
    // once MFA is on (and verified in the session), the member is let in
    let (totp, _) = enable_mfa(&app, &member.token).await;
    assert_eq!(
        app.get(&format!("/v1/workspaces/{ws}/members"), &member.token)
            .await
            .0,
        StatusCode::OK
    );
    let r = login(&app, &member).await;
    assert_eq!(
        app.get(&format!("/v1/workspaces/{ws}/members"), &r.session.token)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    app.post(
        "/v1/auth/mfa",
        &r.session.token,
        json!({"code": totp.code_at(now()).unwrap()}),
    )
    .await;
    assert_eq!(
        app.get(&format!("/v1/workspaces/{ws}/members"), &r.session.token)
            .await
            .0,
        StatusCode::OK
    );
}

// --- requests ---------------------------------------------------------------------------------

async fn request_limits_and_errors(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "mia@example.com", "pw mia").await;

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/workspaces")
        .header(header::AUTHORIZATION, format!("Bearer {}", a.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    let (s, _, body) = app.raw(req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], "payload_too_large");

    // unauthenticated route too
    let big = format!("{{\"email\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/login/start")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    assert_eq!(app.raw(req).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/login/start")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (s, _, body) = app.raw(req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], "invalid_request");
    assert!(!v["message"].as_str().unwrap().is_empty());

    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/login/start",
            None,
            Some(json!({"email": "mia@example.com", "request": "***not base64***"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("base64"), "{v}");

    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/login/start",
            None,
            Some(json!({"email": "mia@example.com", "request": b64(&[1, 2, 3])})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, v) = app.get("/v1/sessions/not-a-uuid", &a.token).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    let (s, v) = app
        .call(
            Method::DELETE,
            "/v1/sessions/not-a-uuid",
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["code"], "invalid_request");

    let (s, v) = app.get("/v1/nothing-here", &a.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["code"], "not_found");

    let (s, v) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"status": "ok"}));

    let (s, v) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for p in [
        "/v1/auth/login/start",
        "/v1/devices/{id}/share",
        "/v1/workspaces/{ws}/members/{user_id}",
        "/v1/audit/verify",
    ] {
        assert!(v["paths"].get(p).is_some(), "openapi lacks {p}");
    }
    assert!(v["components"]["schemas"].get("LoginResult").is_some());

    let (s, _, body) = app
        .raw(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("coffer_http_requests_total"), "{text}");
}

// --- data keys --------------------------------------------------------------------------------

async fn data_key_rotation(b: &Backend<'_>) {
    let app = app(b).await;
    let a = register(&app, "nina@example.com", "pw nina").await;
    let (totp, _) = enable_mfa(&app, &a.token).await;
    let before = fetch_share(&app, &a.token, a.device_id, &a.identity).await;
    let keys_before = app.state.main.list_data_keys().await.unwrap();
    assert_eq!(keys_before.len(), 1);

    coffer_server::jobs::rotate_data_key(&app.state)
        .await
        .unwrap();
    assert_eq!(app.state.main.list_data_keys().await.unwrap().len(), 2);
    // old values still open before the re-wrap
    assert_eq!(
        fetch_share(&app, &a.token, a.device_id, &a.identity).await,
        before
    );
    let report = coffer_server::jobs::rewrap_and_retire(&app.state)
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 2, "device share and TOTP secret");
    assert_eq!(report.retired, 1);
    let keys = app.state.main.list_data_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0].id, keys_before[0].id);
    assert_eq!(
        app.state
            .values
            .count_by_key(keys_before[0].id)
            .await
            .unwrap(),
        0
    );
    // everything still opens under the new key
    assert_eq!(
        fetch_share(&app, &a.token, a.device_id, &a.identity).await,
        before
    );
    let r = login(&app, &a).await;
    let (s, _) = app
        .post(
            "/v1/auth/mfa",
            &r.session.token,
            json!({"code": totp.code_at(now()).unwrap()}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // and a restart (new state on the same stores) reads them too
    let state2 = coffer_server::startup::open_state(&app.config)
        .await
        .unwrap();
    assert_eq!(state2.keyring().key_ids().len(), 1);
    let (s, _) = app.get("/v1/audit/verify", &a.token).await;
    assert_eq!(s, StatusCode::OK);
}

// --- the tests --------------------------------------------------------------------------------

macro_rules! sqlite_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                super::$name(&Backend::Sqlite).await;
            }
        )*

        /// Every scenario again on PostgreSQL (with `COFFER_TEST_POSTGRES=1`).
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres_suite() {
            if std::env::var("COFFER_TEST_POSTGRES").as_deref() != Ok("1") {
                eprintln!("COFFER_TEST_POSTGRES is not 1: PostgreSQL suite skipped");
                return;
            }
            let pg = tokio::task::spawn_blocking(coffer_store::testing::PgCluster::start)
                .await
                .unwrap()
                .unwrap();
            let b = Backend::Postgres(&pg);
            $(
                eprintln!("postgres: {}", stringify!($name));
                super::$name(&b).await;
            )*
        }
    };
}

mod suite {
    use super::*;

    sqlite_tests!(
        signup_and_login,
        wrong_password_and_unknown_email_look_the_same,
        login_throttling,
        sessions_expire_refresh_revoke,
        device_revoke_kills_sessions,
        device_share_challenge_response,
        mfa_enrol_login_recovery,
        workspaces_invites_roles,
        policy_table_over_http,
        workspace_mfa_policy,
        request_limits_and_errors,
        data_key_rotation,
    );
}
