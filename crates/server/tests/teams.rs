//! Teams and access requests over HTTP (docs/protocol.md §18.5), in process: who may do what.
//! Only owners and admins manage teams; only managers of a vault see, approve or deny its
//! requests; approval records the membership and the decision together (grants checked as for
//! a share); a denied request leaves no membership; removing a team member drops the vault
//! membership held through the team and flags the vault for rotation. Grants are real, sealed
//! with `coffer_crypto`. Runs on SQLite; with `COFFER_TEST_POSTGRES=1` `postgres_suite` runs
//! it again on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::{Method, StatusCode};
use coffer_crypto::context::{Context, Purpose};
use coffer_crypto::grant::seal_grant;
use coffer_crypto::identity::KeyPair;
use coffer_crypto::item::{ItemLocation, seal_item};
use coffer_crypto::key::SymmetricKey;
use coffer_crypto::manifest::{ManifestBody, ManifestEntry};
use coffer_proto::vault::VaultRole;
use coffer_proto::{Role, VaultId, WorkspaceId};
use common::*;
use serde_json::{Value, json};

struct WsVault {
    id: VaultId,
    ws: WorkspaceId,
    key: SymmetricKey,
}

fn grant(v: &WsVault, to: &KeyPair, by: &KeyPair) -> String {
    let ctx = Context::new(Purpose::VaultKey)
        .with_workspace(*v.ws.as_uuid().as_bytes())
        .with_vault(*v.id.as_uuid().as_bytes())
        .with_epoch(1);
    b64(seal_grant(&v.key, &ctx, &to.public(), by)
        .unwrap()
        .as_bytes())
}

/// Grants of `v`'s key to `to`'s identity and device, signed by `by`'s device.
fn grants_for(v: &WsVault, to: &Account, by: &Account) -> Value {
    json!([
        {"recipient": {"kind": "user", "id": to.user_id}, "epoch": 1,
         "grant": grant(v, &to.identity, &by.device)},
        {"recipient": {"kind": "device", "id": to.device_id}, "epoch": 1,
         "grant": grant(v, &to.device, &by.device)},
    ])
}

async fn create_ws_vault(app: &TestApp, a: &Account, ws: WorkspaceId) -> WsVault {
    let v = WsVault {
        id: VaultId::new_random(),
        ws,
        key: SymmetricKey::generate().unwrap(),
    };
    let wsb = *ws.as_uuid().as_bytes();
    let loc = ItemLocation {
        workspace: wsb,
        vault: *v.id.as_uuid().as_bytes(),
        item: [0; 16],
        epoch: 1,
        revision: 1,
    };
    let record = seal_item(&v.key, &loc, &[("v", b"{}")])
        .unwrap()
        .to_bytes()
        .unwrap();
    let entry = ManifestEntry::from_sealed_bytes([0; 16], 1, 1, &record);
    let manifest = ManifestBody::genesis(wsb, *v.id.as_uuid().as_bytes(), 1, vec![entry])
        .sign(&a.device)
        .unwrap();
    let (s, body) = app
        .post(
            "/v1/vaults",
            &a.token,
            json!({"vault_id": v.id, "workspace_id": ws, "record": b64(&record),
                   "manifest": b64(&manifest.to_compact().unwrap()),
                   "grants": grants_for(&v, a, a)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    v
}

async fn role_in(app: &TestApp, v: &WsVault, a: &Account) -> Option<VaultRole> {
    app.state.main.vault_role(v.id, a.user_id).await.ok()
}

fn actions(entries: &[coffer_store::AuditEntry]) -> Vec<String> {
    entries.iter().map(|e| e.action.clone()).collect()
}

async fn who_may_do_what(b: &Backend<'_>) {
    let app = TestApp::start(b, Options::default()).await;
    let owner = register(&app, "owner@teams.example", "pw owner").await;
    let admin = register(&app, "admin@teams.example", "pw admin").await;
    let bob = register(&app, "bob@teams.example", "pw bob").await;
    let erin = register(&app, "erin@teams.example", "pw erin").await;
    let viewer = register(&app, "viewer@teams.example", "pw viewer").await;
    let outsider = register(&app, "out@teams.example", "pw out").await;
    let (s, v) = app
        .post("/v1/workspaces", &owner.token, json!({"name": "teams"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ws: WorkspaceId = serde_json::from_value(v["workspace_id"].clone()).unwrap();
    let main = &app.state.main;
    main.add_member(ws, admin.user_id, Role::Admin, None)
        .await
        .unwrap();
    for u in [&bob, &erin, &viewer] {
        main.add_member(ws, u.user_id, Role::Member, None)
            .await
            .unwrap();
    }
    let teams_path = format!("/v1/workspaces/{ws}/teams");

    // ── only owners and admins create teams and manage members ──────────────
    let (s, _) = app
        .post(&teams_path, &bob.token, json!({"name": "devs"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a member cannot create a team");
    let (s, _) = app
        .post(&teams_path, &outsider.token, json!({"name": "devs"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .post(&teams_path, &admin.token, json!({"name": "  "}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, t) = app
        .post(&teams_path, &admin.token, json!({"name": "devs"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let team = t["team_id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .post(&teams_path, &owner.token, json!({"name": "devs"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, list) = app.get(&teams_path, &bob.token).await;
    assert_eq!(s, StatusCode::OK, "members may list teams");
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, _) = app.get(&teams_path, &outsider.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get(&format!("/v1/teams/{team}"), &outsider.token).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "outsiders do not learn a team exists"
    );
    let member_path = |u: &Account| format!("/v1/teams/{team}/members/{}", u.user_id);
    let (s, _) = app.put(&member_path(&erin), &bob.token, json!(null)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a member cannot add team members");
    let (s, _) = app
        .put(&member_path(&outsider), &admin.token, json!(null))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "not in the workspace");

    // ── a manager links the team to a vault ─────────────────────────────────
    let v = create_ws_vault(&app, &owner, ws).await;
    let link = format!("/v1/vaults/{}/teams/{team}", v.id);
    let (s, _) = app
        .put(&link, &admin.token, json!({"role": "editor"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an admin who is not in the vault");
    let (s, r) = app
        .put(&link, &owner.token, json!({"role": "editor"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["requests"], json!([]));
    // a viewer of the vault, shared directly
    let (s, r) = app
        .put(
            &format!("/v1/vaults/{}/members/{}", v.id, viewer.user_id),
            &owner.token,
            json!({"role": "viewer", "grants": grants_for(&v, &viewer, &owner)}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{r}");
    let (s, _) = app
        .put(&link, &viewer.token, json!({"role": "manager"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a viewer cannot link a team");

    // ── adding bob creates a request only the vault's managers see ──────────
    let (s, added) = app.put(&member_path(&bob), &admin.token, json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{added}");
    let req = added["requests"][0].as_str().unwrap().to_owned();
    assert_eq!(added["requests"].as_array().unwrap().len(), 1);
    let (s, _) = app.put(&member_path(&bob), &admin.token, json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, seen) = app.get("/v1/access-requests", &owner.token).await;
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen[0]["request_id"], req.as_str());
    assert_eq!(seen[0]["email"], bob.email.as_str());
    assert_eq!(seen[0]["role"], "editor");
    assert_eq!(seen[0]["team_name"], "devs");
    assert_eq!(seen[0]["state"], "pending");
    for who in [&viewer, &admin, &bob] {
        let (s, seen) = app.get("/v1/access-requests", &who.token).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(seen, json!([]), "{} must not see the request", who.email);
    }

    // ── only a manager approves, with grants checked as for a share ────────
    let share_bob = format!("/v1/vaults/{}/members/{}", v.id, bob.user_id);
    let body = json!({"role": "editor", "grants": grants_for(&v, &bob, &owner),
                      "request_id": req});
    let (s, _) = app.put(&share_bob, &viewer.token, body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a viewer cannot approve");
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/access-requests/{req}/deny"),
            Some(&viewer.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a viewer cannot deny");
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/access-requests/{req}/deny"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the requester cannot decide");
    let (s, r) = app
        .put(
            &share_bob,
            &owner.token,
            json!({"role": "manager", "grants": grants_for(&v, &bob, &owner), "request_id": req}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "another role than asked: {r}");
    // a grant sealed to someone else's key: refused, nothing recorded
    let mut wrong = grants_for(&v, &bob, &owner);
    wrong[0]["grant"] = json!(grant(&v, &erin.identity, &owner.device));
    let (s, _) = app
        .put(
            &share_bob,
            &owner.token,
            json!({"role": "editor", "grants": wrong, "request_id": req}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(role_in(&app, &v, &bob).await, None);
    let (s, r) = app.put(&share_bob, &owner.token, body.clone()).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{r}");
    assert_eq!(role_in(&app, &v, &bob).await, Some(VaultRole::Editor));
    let stored = main.access_request(req.parse().unwrap()).await.unwrap();
    assert_eq!(stored.state, coffer_proto::AccessRequestState::Approved);
    assert_eq!(stored.decided_by, Some(owner.user_id));
    let (s, _) = app.put(&share_bob, &owner.token, body).await;
    assert_eq!(s, StatusCode::CONFLICT, "approved once");
    let (_, seen) = app.get("/v1/access-requests", &owner.token).await;
    assert_eq!(seen, json!([]));

    // ── deny leaves no membership ──────────────────────────────────────────
    let (_, added) = app
        .put(&member_path(&erin), &owner.token, json!(null))
        .await;
    let ereq = added["requests"][0].as_str().unwrap().to_owned();
    let (s, d) = app
        .call(
            Method::POST,
            &format!("/v1/access-requests/{ereq}/deny"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "denied");
    assert_eq!(role_in(&app, &v, &erin).await, None);
    assert!(
        main.vault_grants_for(v.id, erin.device_id, erin.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/access-requests/{ereq}/deny"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // a denied request cannot be approved afterwards
    let (s, _) = app
        .put(
            &format!("/v1/vaults/{}/members/{}", v.id, erin.user_id),
            &owner.token,
            json!({"role": "editor", "grants": grants_for(&v, &erin, &owner),
                   "request_id": ereq}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(role_in(&app, &v, &erin).await, None);

    // ── the team, and removal of bob: membership gone, rotation due ─────────
    let (s, detail) = app.get(&format!("/v1/teams/{team}"), &bob.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["members"].as_array().unwrap().len(), 2, "{detail}");
    assert_eq!(detail["vaults"][0]["vault_id"], v.id.to_string());
    assert_eq!(detail["vaults"][0]["role"], "editor");
    let (s, _) = app
        .call(Method::DELETE, &member_path(&bob), Some(&bob.token), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, removed) = app
        .call(Method::DELETE, &member_path(&bob), Some(&admin.token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{removed}");
    assert_eq!(removed["vaults"], json!([v.id]));
    assert_eq!(role_in(&app, &v, &bob).await, None);
    assert!(main.vault(v.id).await.unwrap().rotation_due);
    let (s, _) = app
        .call(Method::DELETE, &member_path(&bob), Some(&admin.token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let audit = actions(&app.audit_actions().await);
    for a in [
        "team.create",
        "vault.share_team",
        "team.member.add",
        "access.approve",
        "access.deny",
        "team.member.remove",
    ] {
        assert!(audit.iter().any(|x| x == a), "no {a} in {audit:?}");
    }
    let e = app
        .audit_actions()
        .await
        .into_iter()
        .find(|e| e.action == "access.approve")
        .unwrap();
    assert_eq!(e.workspace_id, Some(ws));
    assert_eq!(e.actor_user_id, Some(owner.user_id));
}

/// Linking with shares gives team members the role at once (grants checked); a share to a
/// non-member of the team is refused and nothing is linked.
async fn link_with_shares(b: &Backend<'_>) {
    let app = TestApp::start(b, Options::default()).await;
    let owner = register(&app, "lowner@teams.example", "pw lowner").await;
    let bob = register(&app, "lbob@teams.example", "pw lbob").await;
    let carol = register(&app, "lcarol@teams.example", "pw lcarol").await;
    let (_, v) = app
        .post("/v1/workspaces", &owner.token, json!({"name": "link"}))
        .await;
    let ws: WorkspaceId = serde_json::from_value(v["workspace_id"].clone()).unwrap();
    for u in [&bob, &carol] {
        app.state
            .main
            .add_member(ws, u.user_id, Role::Member, None)
            .await
            .unwrap();
    }
    let (_, t) = app
        .post(
            &format!("/v1/workspaces/{ws}/teams"),
            &owner.token,
            json!({"name": "ops"}),
        )
        .await;
    let team = t["team_id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .put(
            &format!("/v1/teams/{team}/members/{}", bob.user_id),
            &owner.token,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let v = create_ws_vault(&app, &owner, ws).await;
    let link = format!("/v1/vaults/{}/teams/{team}", v.id);
    let (s, r) = app
        .put(
            &link,
            &owner.token,
            json!({"role": "viewer", "shares": [
                {"user_id": carol.user_id, "grants": grants_for(&v, &carol, &owner)}]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "carol is not in the team: {r}");
    assert!(
        app.state
            .main
            .team_vaults(team.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    let (s, r) = app
        .put(
            &link,
            &owner.token,
            json!({"role": "viewer", "shares": [
                {"user_id": bob.user_id, "grants": grants_for(&v, &bob, &owner)}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["shared"], json!([bob.user_id]));
    assert_eq!(role_in(&app, &v, &bob).await, Some(VaultRole::Viewer));
    assert_eq!(
        app.state
            .main
            .vault_grants_for(v.id, bob.device_id, bob.user_id)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_do_what_sqlite() {
    who_may_do_what(&Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_with_shares_sqlite() {
    link_with_shares(&Backend::Sqlite).await;
}

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
    who_may_do_what(&b).await;
    link_with_shares(&b).await;
}
