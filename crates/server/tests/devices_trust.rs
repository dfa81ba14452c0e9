//! Device trust over HTTP (protocol.md §14.4): a pending device certified by its user's identity
//! key becomes trusted; the certificate is checked (signer, user, device, keys) and accepted from
//! a trusted device of the same user (the approval), never from the pending device itself while
//! a trusted one exists, nor from another pending device; `GET /v1/users/{id}/devices` lists the caller's own devices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use coffer_crypto::chain::{ChainLink, DeviceCertificate};
use coffer_crypto::identity::KeyPair;
use coffer_proto::api::{DeviceRef, LoginResult};
use coffer_proto::vault::UserDevice;
use coffer_proto::{DeviceId, DeviceState};
use common::*;
use serde_json::json;

/// Certifies `device` with `cert` and the next `add` link of its user's chain (for the keys the
/// certificate names, or fresh keys when it does not parse) signed by `signer`.
async fn post_cert(
    app: &TestApp,
    token: &str,
    device: DeviceId,
    cert: &[u8],
    signer: &KeyPair,
) -> StatusCode {
    let (user, keys) = match DeviceCertificate::from_bytes(cert) {
        Ok(c) => (
            coffer_proto::UserId::from_uuid(uuid::Uuid::from_bytes(*c.user_id())),
            *c.device_keys(),
        ),
        Err(_) => (
            coffer_proto::UserId::new_random(),
            KeyPair::generate().unwrap().public(),
        ),
    };
    let (_, v) = app.get(&format!("/v1/users/{user}/chain"), token).await;
    let prev = v["links"]
        .as_array()
        .and_then(|a| a.last())
        .map(|l| ChainLink::from_bytes(&unb64(l)).unwrap());
    let link = ChainLink::add(
        prev.as_ref(),
        *device.as_uuid().as_bytes(),
        &keys,
        2,
        signer,
    )
    .unwrap();
    post_cert_link(app, token, device, cert, link.as_bytes()).await
}

async fn post_cert_link(
    app: &TestApp,
    token: &str,
    device: DeviceId,
    cert: &[u8],
    link: &[u8],
) -> StatusCode {
    let (s, _) = app
        .post(
            &format!("/v1/devices/{device}/certificate"),
            token,
            json!({ "certificate": b64(cert), "chain_link": b64(link) }),
        )
        .await;
    s
}

fn cert(identity: &KeyPair, user: [u8; 16], device: [u8; 16], keys: &KeyPair) -> Vec<u8> {
    DeviceCertificate::issue(identity, user, device, &keys.public(), 1_700_000_000)
        .unwrap()
        .as_bytes()
        .to_vec()
}

async fn user_devices(app: &TestApp, token: &str, user: &str) -> (StatusCode, Vec<UserDevice>) {
    let (s, v) = app.get(&format!("/v1/users/{user}/devices"), token).await;
    if s != StatusCode::OK {
        return (s, vec![]);
    }
    (s, serde_json::from_value(v).unwrap())
}

async fn pending_device_is_certified(b: &Backend<'_>) {
    let app = TestApp::start(b, Options::default()).await;
    let a = register(&app, "tess@example.com", "pw tess").await;
    let (phone_kp, nd) = new_device("phone");
    let (s, v) = login_raw(&app, &a.email, &a.password, DeviceRef::New(nd)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let phone: LoginResult = serde_json::from_value(v).unwrap();
    assert_eq!(phone.device_state, DeviceState::Pending);
    let uid = *a.user_id.as_uuid().as_bytes();
    let pid = *phone.device_id.as_uuid().as_bytes();
    let tok = phone.session.token.as_str();
    let good = cert(&a.identity, uid, pid, &phone_kp);

    // the pending device cannot certify itself while its user has a trusted device
    assert_eq!(
        post_cert(&app, tok, phone.device_id, &good, &a.identity).await,
        StatusCode::FORBIDDEN
    );
    // nor can another pending device approve it
    let (tablet_kp, nd2) = new_device("tablet");
    let (_, v2) = login_raw(&app, &a.email, &a.password, DeviceRef::New(nd2)).await;
    let tablet: LoginResult = serde_json::from_value(v2).unwrap();
    assert_eq!(tablet.device_state, DeviceState::Pending);
    assert_eq!(
        post_cert(
            &app,
            tablet.session.token.as_str(),
            phone.device_id,
            &good,
            &a.identity
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let _ = tablet_kp;
    // the approval nonce: set only by a trusted device, read only by the pending device
    let nonce_path = format!("/v1/devices/{}/approval", phone.device_id);
    let (s, _) = app.get(&nonce_path, tok).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let nonce = json!({ "nonce": b64(&[5u8; 32]) });
    let (s, _) = app.put(&nonce_path, tok, nonce.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .put(&nonce_path, &a.token, json!({ "nonce": b64(&[5u8; 31]) }))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app.put(&nonce_path, &a.token, nonce).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get(&nonce_path, &a.token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = app.get(&nonce_path, tok).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["nonce"], b64(&[5u8; 32]));
    // the trusted first device approves; the certificate is checked:
    // signed by another identity key
    let other = KeyPair::generate().unwrap();
    assert_eq!(
        post_cert(
            &app,
            &a.token,
            phone.device_id,
            &cert(&other, uid, pid, &phone_kp),
            &a.identity
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    // naming another user, another device, or other keys
    let bad_user = cert(&a.identity, [9; 16], pid, &phone_kp);
    let bad_device = cert(&a.identity, uid, [9; 16], &phone_kp);
    let bad_keys = cert(&a.identity, uid, pid, &KeyPair::generate().unwrap());
    for c in [&bad_user, &bad_device, &bad_keys] {
        assert_eq!(
            post_cert(&app, &a.token, phone.device_id, c, &a.identity).await,
            StatusCode::BAD_REQUEST
        );
    }
    // malformed
    assert_eq!(
        post_cert(&app, &a.token, phone.device_id, &good[..100], &a.identity).await,
        StatusCode::BAD_REQUEST
    );
    let (_, devs) = user_devices(&app, tok, &a.user_id.to_string()).await;
    let p = devs
        .iter()
        .find(|d| d.device_id == phone.device_id)
        .unwrap();
    assert_eq!(p.state, DeviceState::Pending);
    assert!(p.certificate.is_none());

    // the right one, from the trusted device
    assert_eq!(
        post_cert(&app, &a.token, phone.device_id, &good, &a.identity).await,
        StatusCode::NO_CONTENT
    );
    let (s, devs) = user_devices(&app, tok, &a.user_id.to_string()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(devs.len(), 3);
    let p = devs
        .iter()
        .find(|d| d.device_id == phone.device_id)
        .unwrap();
    assert_eq!(p.state, DeviceState::Trusted);
    assert_eq!(p.certificate.as_ref().unwrap().0, good);
    assert_eq!(p.public_keys.0, phone_kp.public().to_bytes().to_vec());
    let first = devs.iter().find(|d| d.device_id == a.device_id).unwrap();
    assert_eq!(first.state, DeviceState::Trusted);
    DeviceCertificate::from_bytes(&first.certificate.as_ref().unwrap().0)
        .unwrap()
        .verify(&a.identity.public())
        .unwrap();

    // a second time: already trusted
    assert_eq!(
        post_cert(&app, &a.token, phone.device_id, &good, &a.identity).await,
        StatusCode::CONFLICT
    );
    let approved = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|e| e.action == "device.approve")
        .count();
    assert_eq!(approved, 1);
}

async fn device_lists_are_private(b: &Backend<'_>) {
    let app = TestApp::start(b, Options::default()).await;
    let a = register(&app, "uma@example.com", "pw uma").await;
    let c = register(&app, "vic@example.com", "pw vic").await;
    let (s, devs) = user_devices(&app, &a.token, &a.user_id.to_string()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(devs.len(), 1);
    let (s, _) = user_devices(&app, &a.token, &c.user_id.to_string()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .get(&format!("/v1/users/{}/devices", a.user_id), "not-a-token")
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // another user's device id cannot be certified either
    let kp = KeyPair::generate().unwrap();
    let cc = cert(
        &a.identity,
        *a.user_id.as_uuid().as_bytes(),
        *c.device_id.as_uuid().as_bytes(),
        &kp,
    );
    assert_eq!(
        post_cert(&app, &a.token, c.device_id, &cc, &a.identity).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn pending_device_is_certified_sqlite() {
    pending_device_is_certified(&Backend::Sqlite).await;
}

#[tokio::test]
async fn device_lists_are_private_sqlite() {
    device_lists_are_private(&Backend::Sqlite).await;
}

/// Both scenarios again on PostgreSQL (with `COFFER_TEST_POSTGRES=1`).
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
    pending_device_is_certified(&b).await;
    device_lists_are_private(&b).await;
}
