//! End to end: teams and access requests (protocol.md §18.5) through the real `coffer` binary
//! and a real server. An admin creates a team and shares a vault with it; adding a confirmed
//! user opens a request the vault manager sees and approves (the user then reads the vault);
//! a denied request gives nothing; approving for an unconfirmed user, or sharing with a team
//! that holds one, refuses loudly and uploads no grant; removing a user from the team makes the
//! manager's next sync rotate the vault, and the removed user cannot read what is written after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DataDir, Server, User, confirm_member, join_workspace, unique};
use serde_json::Value;

fn password_of(u: &User, item: &str) -> Option<String> {
    let r = u.run(&["--json", "item", "get", item, "--field", "password"]);
    r.ok.then(|| r.json()["value"].as_str().unwrap().to_owned())
}

fn requests(u: &User) -> Vec<Value> {
    u.json(&["access", "list"]).as_array().unwrap().clone()
}

fn request_of(u: &User, email: &str) -> String {
    let all = requests(u);
    all.iter()
        .find(|r| r["user"] == email)
        .unwrap_or_else(|| panic!("no request of {email} in {all:?}"))["request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn vault_member_count(u: &User, vault: &str) -> usize {
    u.json(&["vault", "members", vault])
        .as_array()
        .unwrap()
        .len()
}

/// Grants stored on the server for `user` or any of their devices.
fn grants_to(data: &DataDir, user: &str) -> i64 {
    let url = format!("sqlite://{}", data.path().join("main.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM vault_grants WHERE (recipient_kind = 'user' AND \
             recipient_id = $1) OR (recipient_kind = 'device' AND recipient_id IN \
             (SELECT id FROM devices WHERE user_id = $1))",
        )
        .bind(user.to_owned())
        .fetch_one(&mut conn)
        .await
        .unwrap()
    })
}

fn user_id_in_team(admin: &User, team: &str, email: &str) -> String {
    let t = admin.json(&["team", "show", team]);
    t["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .unwrap_or_else(|| panic!("{email} not in {t}"))["user_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn team_requests_approve_deny_remove_rotate() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let alice = User::new(&server, "tm-alice");
    let bob = User::new(&server, "tm-bob");
    let carol = User::new(&server, "tm-carol");
    let dave = User::new(&server, "tm-dave");
    for u in [&alice, &bob, &carol, &dave] {
        u.signup();
    }
    let ws = unique("teams");
    alice.json(&["workspace", "create", &ws]);
    for u in [&bob, &carol, &dave] {
        join_workspace(&alice, u, &ws, "member");
    }
    confirm_member(&alice, &bob, &ws);
    confirm_member(&alice, &carol, &ws);
    // dave is never confirmed

    // ── a member cannot create a team; the admin can ────────────────────────
    let r = bob.run(&["team", "create", "devs", "--workspace", &ws]);
    assert!(!r.ok && r.stderr.contains("forbidden"), "{r:#?}");
    let t = alice.json(&["team", "create", "devs", "--workspace", &ws]);
    assert_eq!(t["name"], "devs", "{t}");

    // ── the admin shares a vault with the (empty) team ──────────────────────
    let (vault, pw) = common::workspace_vault_with_login(&alice, &ws, "db");
    let shared = alice.json(&[
        "vault", "share", &vault, "--team", "devs", "--role", "viewer",
    ]);
    assert_eq!(shared["shared"].as_array().unwrap().len(), 0, "{shared}");
    assert_eq!(shared["requests"], 0);
    let shown = alice.json(&["team", "show", "devs"]);
    assert_eq!(shown["vaults"][0]["name"], vault.as_str(), "{shown}");
    assert_eq!(shown["vaults"][0]["role"], "viewer");

    // ── adding a confirmed user opens a request; the manager approves ───────
    let added = alice.json(&["team", "add", "devs", "--user", &bob.email]);
    assert_eq!(added["requests"].as_array().unwrap().len(), 1, "{added}");
    assert!(
        requests(&bob).is_empty(),
        "only vault managers see requests"
    );
    let listed = requests(&alice);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["vault"], vault.as_str());
    assert_eq!(listed[0]["role"], "viewer");
    assert_eq!(listed[0]["team"], "devs");
    bob.run(&["sync"]).success();
    assert_eq!(password_of(&bob, "db"), None, "no access before approval");
    let id = request_of(&alice, &bob.email);
    let approved = alice.json(&["access", "approve", &id[..8]]);
    assert_eq!(approved[0]["user"], bob.email.as_str(), "{approved}");
    assert!(approved[0]["grants"].as_u64().unwrap() >= 2, "{approved}");
    assert!(requests(&alice).is_empty());
    bob.run(&["sync"]).success();
    assert_eq!(password_of(&bob, "db").as_deref(), Some(pw.as_str()));
    let members = alice.json(&["vault", "members", &vault]);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["email"] == bob.email.as_str() && m["role"] == "viewer"),
        "{members}"
    );

    // ── a denied request gives nothing ──────────────────────────────────────
    alice.json(&["team", "add", "devs", "--user", &carol.email]);
    let cid = request_of(&alice, &carol.email);
    let denied = alice.json(&["access", "deny", &cid]);
    assert_eq!(denied["state"], "denied", "{denied}");
    carol.run(&["sync"]).success();
    assert_eq!(
        password_of(&carol, "db"),
        None,
        "a denied request gives no access"
    );
    assert!(requests(&alice).is_empty());
    let r = alice.run(&["access", "approve", &cid]);
    assert!(!r.ok, "a denied request is not pending any more: {r:#?}");
    carol.run(&["sync"]).success();
    assert_eq!(password_of(&carol, "db"), None);

    // ── approving for an unconfirmed user refuses loudly, uploads nothing ───
    alice.json(&["team", "add", "devs", "--user", &dave.email]);
    let dave_id = user_id_in_team(&alice, "devs", &dave.email);
    let before = vault_member_count(&alice, &vault);
    let r = alice.run(&["access", "approve", "--all"]);
    assert!(
        !r.ok
            && r.stderr.contains("refusing to trust the identity")
            && r.stderr.contains(&dave.email),
        "{r:#?}"
    );
    assert_eq!(
        grants_to(&data, &dave_id),
        0,
        "a grant was uploaded for dave"
    );
    assert_eq!(vault_member_count(&alice, &vault), before);
    assert_eq!(requests(&alice).len(), 1, "dave's request stays pending");
    dave.run(&["sync"]).success();
    assert_eq!(password_of(&dave, "db"), None);

    // ── sharing another vault with a team that holds dave: whole batch refused ─
    let (vault2, _) = common::workspace_vault_with_login(&alice, &ws, "api");
    let r = alice.run(&[
        "vault", "share", &vault2, "--team", "devs", "--role", "editor",
    ]);
    assert!(
        !r.ok
            && r.stderr.contains("refusing to trust the identity")
            && r.stderr.contains(&dave.email),
        "{r:#?}"
    );
    assert_eq!(vault_member_count(&alice, &vault2), 1, "nothing was shared");
    assert_eq!(
        alice.json(&["team", "show", "devs"])["vaults"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the team was not linked"
    );
    assert_eq!(grants_to(&data, &dave_id), 0);

    // ── removing bob from the team: the manager's next sync rotates ─────────
    let removed = alice.json(&["team", "remove", "devs", "--user", &bob.email]);
    assert_eq!(removed["vaults"].as_array().unwrap().len(), 1, "{removed}");
    let synced = alice.json(&["sync"]);
    assert_eq!(synced["rotated"].as_array().unwrap().len(), 1, "{synced}");
    let pw2 = unique("canary-after-removal");
    alice
        .run(&[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "login",
            "--name",
            "after",
            "--password",
            &pw2,
        ])
        .success();
    bob.run(&["sync"]).success();
    assert_eq!(
        password_of(&bob, "after"),
        None,
        "the removed user reads a new item"
    );
    assert_eq!(password_of(&bob, "db"), None);
}
