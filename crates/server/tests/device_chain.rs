//! The device chain and admin approval over HTTP (protocol.md §14.5, §14.6): registration
//! stores the genesis link; a certification needs the
//! `add` link, which the server refuses (nothing changes) when its seq is stale (`409`), its
//! signer is not trusted or it adds other keys (`400`); a device the chain trusts is revoked only
//! with its signed `revoke` link; `GET /v1/users/{id}/chain` serves the chain to the user and to
//! fellow workspace members only. An owner or admin endorses a member's pending device (a plain
//! member cannot, nor can anyone with an endorsement that names other keys), after which the
//! device certifies itself with its own `add` link and receives the admin's grants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::{Method, StatusCode};
use coffer_crypto::chain::{ChainLink, DeviceCertificate};
use coffer_crypto::endorse::{EndorsedDevice, Endorsement};
use coffer_crypto::identity::KeyPair;
use coffer_proto::api::{DeviceRef, LoginResult};
use coffer_proto::{DeviceId, DeviceState};
use common::*;
use serde_json::{Value, json};

fn cert(a: &Account, device: DeviceId, keys: &KeyPair) -> Vec<u8> {
    DeviceCertificate::issue(
        &a.identity,
        *a.user_id.as_uuid().as_bytes(),
        *device.as_uuid().as_bytes(),
        &keys.public(),
        1_700_000_000,
    )
    .unwrap()
    .as_bytes()
    .to_vec()
}

async fn certify(app: &TestApp, token: &str, device: DeviceId, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/v1/devices/{device}/certificate"), token, body)
        .await
}

/// A new pending device of `a`: its keys and login result.
async fn pending(app: &TestApp, a: &Account, name: &str) -> (KeyPair, LoginResult) {
    let (kp, nd) = new_device(name);
    let (s, v) = login_raw(app, &a.email, &a.password, DeviceRef::New(nd)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r: LoginResult = serde_json::from_value(v).unwrap();
    assert_eq!(r.device_state, DeviceState::Pending);
    (kp, r)
}

async fn state_of(app: &TestApp, d: DeviceId) -> DeviceState {
    app.state.main.device(d).await.unwrap().state
}

async fn chain_and_revocation(b: &Backend<'_>) {
    let app = TestApp::start(b, Options::default()).await;
    let a = register(&app, "chain@example.com", "pw chain").await;
    let genesis = chain_links(&app, &a.token, a.user_id).await;
    assert_eq!(genesis.len(), 1);
    assert_eq!(genesis[0].seq(), 0);
    assert_eq!(genesis[0].device_id(), a.device_id.as_uuid().as_bytes());
    assert_eq!(genesis[0].signer(), a.identity.public().signing());

    let (phone_kp, phone) = pending(&app, &a, "phone").await;
    let c = cert(&a, phone.device_id, &phone_kp);
    // no link
    let (s, v) = certify(
        &app,
        &a.token,
        phone.device_id,
        json!({"certificate": b64(&c)}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("chain_link"), "{v}");
    // a stale seq (built on nothing): conflict
    let stale = ChainLink::add(
        None,
        *phone.device_id.as_uuid().as_bytes(),
        &phone_kp.public(),
        2,
        &a.identity,
    )
    .unwrap();
    let (s, v) = certify(
        &app,
        &a.token,
        phone.device_id,
        json!({"certificate": b64(&c), "chain_link": b64(stale.as_bytes())}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // signed by a key the chain never added
    let rogue = KeyPair::generate().unwrap();
    let by_rogue = next_link(
        &app,
        &a.token,
        a.user_id,
        true,
        phone.device_id,
        &phone_kp.public(),
        &rogue,
    )
    .await;
    let (s, v) = certify(
        &app,
        &a.token,
        phone.device_id,
        json!({"certificate": b64(&c), "chain_link": b64(&by_rogue)}),
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
    // adding other keys than the device's
    let other_keys = next_link(
        &app,
        &a.token,
        a.user_id,
        true,
        phone.device_id,
        &KeyPair::generate().unwrap().public(),
        &a.identity,
    )
    .await;
    let (s, _) = certify(
        &app,
        &a.token,
        phone.device_id,
        json!({"certificate": b64(&c), "chain_link": b64(&other_keys)}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // nothing changed
    assert_eq!(state_of(&app, phone.device_id).await, DeviceState::Pending);
    assert_eq!(chain_links(&app, &a.token, a.user_id).await.len(), 1);

    // the right link, signed by the trusted first device this time
    let good = next_link(
        &app,
        &a.token,
        a.user_id,
        true,
        phone.device_id,
        &phone_kp.public(),
        &a.device,
    )
    .await;
    let (s, v) = certify(
        &app,
        &a.token,
        phone.device_id,
        json!({"certificate": b64(&c), "chain_link": b64(&good)}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(state_of(&app, phone.device_id).await, DeviceState::Trusted);
    let links = chain_links(&app, &a.token, a.user_id).await;
    assert_eq!(links.len(), 2);
    assert_eq!(links[1].as_bytes(), good.as_slice());

    // revocation of a device the chain trusts: DELETE and a link-less POST are refused
    let (s, v) = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", phone.device_id),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let revoke_path = format!("/v1/devices/{}/revoke", phone.device_id);
    let (s, _) = app.post(&revoke_path, &a.token, json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // a link revoking another device
    let wrong = next_link(
        &app,
        &a.token,
        a.user_id,
        false,
        a.device_id,
        &a.device.public(),
        &a.identity,
    )
    .await;
    let (s, _) = app
        .post(&revoke_path, &a.token, json!({"chain_link": b64(&wrong)}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(state_of(&app, phone.device_id).await, DeviceState::Trusted);
    let rev = next_link(
        &app,
        &a.token,
        a.user_id,
        false,
        phone.device_id,
        &phone_kp.public(),
        &a.identity,
    )
    .await;
    let (s, v) = app
        .post(&revoke_path, &a.token, json!({"chain_link": b64(&rev)}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(state_of(&app, phone.device_id).await, DeviceState::Revoked);
    let links = chain_links(&app, &a.token, a.user_id).await;
    assert_eq!(links.len(), 3);
    assert_eq!(links[2].op(), coffer_crypto::chain::ChainOp::RevokeDevice);
    // the revoked phone's session is gone
    assert_eq!(
        app.get("/v1/status", &phone.session.token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // a pending device is revoked without a link (DELETE)
    let (_, tablet) = pending(&app, &a, "tablet").await;
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", tablet.device_id),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(chain_links(&app, &a.token, a.user_id).await.len(), 3);

    // who may read the chain: own, fellow members; not strangers
    let stranger = register(&app, "stranger@example.com", "pw s").await;
    let (s, _) = app
        .get(&format!("/v1/users/{}/chain", a.user_id), &stranger.token)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let ws = create_ws(&app, &a.token, "chainws").await;
    invite_and_join(&app, &ws, &a.token, &stranger, "developer").await;
    assert_eq!(chain_links(&app, &stranger.token, a.user_id).await.len(), 3);

    let audit = app.audit_actions().await;
    assert!(audit.iter().any(|e| e.action == "device.revoke"));
}

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
    let (s, v) = app
        .post(&format!("/v1/invites/{id}/accept"), &who.token, json!(null))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

fn endorsement(
    by: &Account,
    ws: &str,
    member: &Account,
    device: DeviceId,
    keys: &KeyPair,
) -> Vec<u8> {
    let ws: uuid::Uuid = ws.parse().unwrap();
    Endorsement::issue(
        &by.identity,
        *by.user_id.as_uuid().as_bytes(),
        &EndorsedDevice {
            workspace: *ws.as_bytes(),
            user: *member.user_id.as_uuid().as_bytes(),
            identity: member.identity.public(),
            device_id: *device.as_uuid().as_bytes(),
            device: keys.public(),
        },
        1_700_000_000,
    )
    .unwrap()
    .as_bytes()
    .to_vec()
}

async fn admin_approval(b: &Backend<'_>) {
    let app = TestApp::start(b, Options::default()).await;
    let owner = register(&app, "owner@example.com", "pw owner").await;
    let admin = register(&app, "admin@example.com", "pw admin").await;
    let member = register(&app, "member@example.com", "pw member").await;
    let peer = register(&app, "peer@example.com", "pw peer").await;
    let ws = create_ws(&app, &owner.token, "approvals").await;
    invite_and_join(&app, &ws, &owner.token, &admin, "admin").await;
    invite_and_join(&app, &ws, &owner.token, &member, "developer").await;
    invite_and_join(&app, &ws, &owner.token, &peer, "developer").await;

    let (kp, new) = pending(&app, &member, "member-laptop").await;
    // the pending device cannot certify itself: the member has a trusted device
    let link = next_link(
        &app,
        &new.session.token,
        member.user_id,
        true,
        new.device_id,
        &kp.public(),
        &member.identity,
    )
    .await;
    let self_cert =
        json!({"certificate": b64(&cert(&member, new.device_id, &kp)), "chain_link": b64(&link)});
    let (s, _) = certify(&app, &new.session.token, new.device_id, self_cert.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // the admin sees the pending device and leaves the approval nonce; a plain member cannot
    let (s, v) = app
        .get(
            &format!("/v1/users/{}/devices", member.user_id),
            &admin.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"] == new.device_id.to_string() && d["state"] == "pending"),
        "{v}"
    );
    let (_, v) = app
        .get(
            &format!("/v1/users/{}/devices", member.user_id),
            &peer.token,
        )
        .await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "trusted"),
        "{v}"
    );
    let nonce_path = format!("/v1/devices/{}/approval", new.device_id);
    let nonce = json!({"nonce": b64(&[7u8; 32])});
    let (s, _) = app.put(&nonce_path, &peer.token, nonce.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.put(&nonce_path, &admin.token, nonce).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = app.get(&nonce_path, &new.session.token).await;
    assert_eq!(
        (s, v["nonce"].clone()),
        (StatusCode::OK, json!(b64(&[7u8; 32])))
    );

    let endorse_path = format!("/v1/devices/{}/endorsement", new.device_id);
    // a plain member's endorsement (signed by their own identity): refused
    let by_peer = endorsement(&peer, &ws, &member, new.device_id, &kp);
    let (s, _) = app
        .post(
            &endorse_path,
            &peer.token,
            json!({"workspace_id": ws, "endorsement": b64(&by_peer)}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // the admin's endorsement of other keys, or signed by another key: refused
    let other = KeyPair::generate().unwrap();
    let wrong_keys = endorsement(&admin, &ws, &member, new.device_id, &other);
    let (s, v) = app
        .post(
            &endorse_path,
            &admin.token,
            json!({"workspace_id": ws, "endorsement": b64(&wrong_keys)}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let by_other_key = endorsement(&owner, &ws, &member, new.device_id, &kp);
    let (s, _) = app
        .post(
            &endorse_path,
            &admin.token,
            json!({"workspace_id": ws, "endorsement": b64(&by_other_key)}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        app.state
            .main
            .device_endorsement(new.device_id)
            .await
            .unwrap()
            .is_none()
    );

    // the admin's real endorsement
    let good = endorsement(&admin, &ws, &member, new.device_id, &kp);
    let (s, v) = app
        .post(
            &endorse_path,
            &admin.token,
            json!({"workspace_id": ws, "endorsement": b64(&good)}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // the member's chain answer carries it
    let (_, v) = app
        .get(&format!("/v1/users/{}/chain", member.user_id), &peer.token)
        .await;
    let e = &v["endorsements"][0];
    assert_eq!(e["device_id"], new.device_id.to_string());
    assert_eq!(e["endorser_id"], admin.user_id.to_string());
    assert_eq!(unb64(&e["endorsement"]), good);

    // now the device certifies itself, with its own add link signed by the identity
    let (s, v) = certify(&app, &new.session.token, new.device_id, self_cert).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(state_of(&app, new.device_id).await, DeviceState::Trusted);
    let links = chain_links(&app, &admin.token, member.user_id).await;
    assert_eq!(links.len(), 2);
    assert_eq!(links[1].device_id(), new.device_id.as_uuid().as_bytes());
    let audit = app.audit_actions().await;
    assert!(audit.iter().any(|e| e.action == "device.endorse"));
    // an endorsement of a device that is no longer pending: conflict
    let (s, _) = app
        .post(
            &endorse_path,
            &admin.token,
            json!({"workspace_id": ws, "endorsement": b64(&good)}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn chain_and_revocation_sqlite() {
    chain_and_revocation(&Backend::Sqlite).await;
}

#[tokio::test]
async fn admin_approval_sqlite() {
    admin_approval(&Backend::Sqlite).await;
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
    chain_and_revocation(&b).await;
    admin_approval(&b).await;
}
