//! End to end: an admin resets a member's lost password (protocol.md §20), through the real
//! `coffer` binary and a real server. Who may issue a reset, the one-time token, the new
//! identity (old devices and sessions revoked, nothing granted to it until an admin confirms
//! it again), then re-confirmation and replication give the member their shared vault back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DataDir, Server, User, confirm_member, join_workspace, unique};

fn reset_token(admin: &User, ws: &str, email: &str) -> String {
    let r = admin.json(&["workspace", "reset-password", ws, email]);
    assert_eq!(r["email"], email, "{r}");
    assert!(r["expires_at"].as_i64().unwrap() > 0, "{r}");
    r["token"].as_str().unwrap().to_owned()
}

fn reset(u: &User, token: &str) -> common::Run {
    u.run_env(
        &[
            "--json",
            "reset-password",
            "--email",
            &u.email,
            "--password-stdin",
        ],
        &format!("{}\n", u.password),
        &[("COFFER_RESET_TOKEN", token)],
    )
}

fn password_field(u: &User, item: &str) -> common::Run {
    u.run(&["item", "get", item, "--field", "password"])
}

#[test]
fn admin_reset_gives_a_new_identity_that_regains_access_only_after_confirmation() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    let carol = User::new(&server, "carol");
    for u in [&alice, &bob, &carol] {
        u.signup();
    }
    let ws = unique("acme");
    alice.json(&["workspace", "create", &ws]);
    join_workspace(&alice, &bob, &ws, "developer");
    join_workspace(&alice, &carol, &ws, "admin");
    confirm_member(&alice, &bob, &ws);
    confirm_member(&alice, &carol, &ws);
    let (vault, pw) = common::workspace_vault_with_login(&alice, &ws, "db");
    alice
        .run(&[
            "vault", "share", &vault, "--user", &bob.email, "--role", "editor",
        ])
        .success();
    bob.run(&["sync"]).success();
    assert_eq!(password_field(&bob, "db").success().stdout.trim(), pw);
    // an item of another vault shared with bob alone
    let (solo_vault, _) = common::workspace_vault_with_login(&alice, &ws, "solo");
    alice
        .run(&["item", "share", "solo", "--user", &bob.email])
        .success();
    let old_fingerprint = bob.json(&["fingerprint"])["fingerprint"].clone();

    // ── who may issue a reset ───────────────────────────────────────────────
    bob.run(&["workspace", "reset-password", &ws, &carol.email])
        .fails_with("forbidden");
    let r = carol.run(&["workspace", "reset-password", &ws, &alice.email]);
    assert!(!r.ok, "an admin must not reset an owner: {r:#?}");
    let r = carol.run(&["workspace", "reset-password", &ws, &carol.email]);
    assert!(
        !r.ok && r.stderr.contains("own password"),
        "nobody resets themself: {r:#?}"
    );

    // ── the member sets a new password on a fresh install ───────────────────
    let first = reset_token(&carol, &ws, &bob.email);
    // a second token replaces the first
    let token = reset_token(&carol, &ws, &bob.email);
    let mut bob2 = bob.second_install();
    bob2.password = unique("new-canary-pw");
    let r = reset(&bob2, &first);
    assert!(
        !r.ok && r.stderr.contains("reset token refused"),
        "a replaced token must not work: {r:#?}"
    );
    let mut mallory = User::new(&server, "mallory");
    mallory.password = unique("mallory-pw");
    mallory.signup();
    let r = reset(&mallory, &token);
    assert!(
        !r.ok && r.stderr.contains("reset token refused"),
        "a token works only for its member's email: {r:#?}"
    );
    let done = reset(&bob2, &token).success();
    assert!(done.stderr.contains("confirm you again"), "{}", done.stderr);
    let out = done.json();
    assert_eq!(out["device_state"], "trusted", "{out}");
    let r = reset(&bob2.second_install(), &token);
    assert!(
        !r.ok && r.stderr.contains("reset token refused"),
        "the token is single-use: {r:#?}"
    );
    let new_fingerprint = bob2.json(&["fingerprint"])["fingerprint"].clone();
    assert_ne!(new_fingerprint, old_fingerprint, "the identity must be new");

    // the old install is revoked, the old password is gone
    assert!(
        !bob.run(&["sync"]).ok,
        "the old install's session must be revoked"
    );
    let old_pw = bob.second_install();
    assert!(!old_pw.login().ok, "the old password must not log in");
    let devices = bob2.json(&["device", "list"]);
    let states: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "trusted").count(),
        1,
        "only the new install is trusted: {devices}"
    );

    // ── nothing is granted to the new identity before an admin confirms it ──
    bob2.run(&["sync"]).success();
    assert!(
        !password_field(&bob2, "db").ok,
        "no key before confirmation"
    );
    alice.run(&["sync"]).success();
    bob2.run(&["sync"]).success();
    assert!(
        !password_field(&bob2, "db").ok,
        "alice's sync must not grant to an unconfirmed identity"
    );
    // a rotation cannot re-share the item shared alone with an identity nobody confirmed: the
    // manager is told, naming the item's recipient
    let rotated = alice.run(&["vault", "rotate", &solo_vault]).success();
    assert!(
        rotated.stderr.contains("was not re-shared with") && rotated.stderr.contains(&bob.email),
        "{rotated:#?}"
    );
    let members = alice.json(&["vault", "members", &vault]);
    let row = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == bob.email.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["trusted"], "NOT CONFIRMED", "{members}");

    // ── confirmed again (newer attestation): replication restores access ────
    // Attestations carry whole seconds and a pinned identity changes only under a strictly
    // newer one (protocol.md §18.1): this test runs faster than that.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    confirm_member(&carol, &bob2, &ws);
    let synced = alice.run(&["sync"]).success();
    assert!(
        synced.stderr.contains(&bob.email) || synced.stdout.contains(&bob.email),
        "alice is told that bob's identity changed: {synced:#?}"
    );
    bob2.run(&["sync"]).success();
    assert_eq!(password_field(&bob2, "db").success().stdout.trim(), pw);
    // the old devices' revocation rotated the vault before the new grants
    let list = bob2.json(&["vault", "list"]);
    let epoch = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vault.as_str())
        .unwrap()["epoch"]
        .as_u64()
        .unwrap();
    assert_eq!(epoch, 2, "{list}");

    // bob's role statement names his old identity: until a manager signs one for the new
    // identity, his writes are refused by the others (protocol.md §18.6, §20)
    let pw_refused = unique("refused-pw");
    bob2.run(&[
        "item",
        "create",
        "--vault",
        &vault,
        "--type",
        "login",
        "--name",
        "early",
        "--password",
        &pw_refused,
    ])
    .success();
    let r = alice.run(&["sync"]);
    assert!(
        !r.ok && r.stderr.contains("refusing a write signed by user"),
        "{r:#?}"
    );
    // the manager re-shares (a role statement for the new identity); bob's next write is
    // accepted
    alice
        .run(&[
            "vault", "share", &vault, "--user", &bob.email, "--role", "editor",
        ])
        .success();
    let pw2 = unique("after-reset-pw");
    bob2.run(&[
        "item",
        "create",
        "--vault",
        &vault,
        "--type",
        "login",
        "--name",
        "api",
        "--password",
        &pw2,
    ])
    .success();
    alice.run(&["sync"]).success();
    assert_eq!(password_field(&alice, "api").success().stdout.trim(), pw2);
}
