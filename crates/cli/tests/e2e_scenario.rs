//! The whole zero-knowledge core in one story, through the real `coffer` binary and a real
//! server: three people, five installs, two workspaces. Confirm, approve a second install,
//! share across both workspaces, a new install that gets every key from its own user's other
//! install (the sharers stay offline), unshare, revoke, rotate, recover with the paper key after
//! every install of the admin is wiped, and reset a password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DataDir, Server, User, confirm_member, join_workspace, unique};

fn secret(u: &User, item: &str) -> common::Run {
    u.run(&["item", "get", item, "--field", "password"])
}

fn reads(u: &User, item: &str, want: &str) {
    let r = secret(u, item);
    assert!(r.ok, "{} cannot read {item}: {r:#?}", u.email);
    assert_eq!(r.stdout.trim(), want, "{} reads {item}", u.email);
}

fn login_item(u: &User, vault: &str, name: &str) -> String {
    let pw = unique("canary");
    u.run(&[
        "item",
        "create",
        "--vault",
        vault,
        "--type",
        "login",
        "--name",
        name,
        "--password",
        &pw,
    ])
    .success();
    pw
}

fn epoch(u: &User, vault: &str) -> u64 {
    let list = u.json(&["vault", "list"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vault)
        .unwrap_or_else(|| panic!("{vault} not in {list}"))["epoch"]
        .as_u64()
        .unwrap()
}

#[test]
fn three_people_five_installs_two_workspaces() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    let carol = User::new(&server, "carol");
    for u in [&alice, &bob, &carol] {
        u.signup();
    }
    // two workspaces: alice owns acme, carol owns beta; bob is in both
    let acme = unique("acme");
    let beta = unique("beta");
    alice.json(&["workspace", "create", &acme]);
    carol.json(&["workspace", "create", &beta]);
    join_workspace(&alice, &bob, &acme, "developer");
    join_workspace(&alice, &carol, &acme, "member");
    join_workspace(&carol, &bob, &beta, "member");
    confirm_member(&alice, &bob, &acme);
    confirm_member(&alice, &carol, &acme);
    confirm_member(&carol, &bob, &beta);

    // install 4: alice's second install, approved by her first (short-code comparison)
    let alice2 = alice.second_install();
    alice2.login().success();
    alice2.approve_from(&alice);

    // shares in both workspaces
    let (v, v_pw) = common::workspace_vault_with_login(&alice, &acme, "db");
    let words = alice.json(&["recovery", "create", "--vault", &v])["words"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .run(&[
            "vault", "share", &v, "--user", &bob.email, "--role", "editor",
        ])
        .success();
    alice
        .run(&[
            "vault",
            "share",
            &v,
            "--user",
            &carol.email,
            "--role",
            "viewer",
        ])
        .success();
    let (w, w_pw) = common::workspace_vault_with_login(&carol, &beta, "wiki");
    carol
        .run(&[
            "vault", "share", &w, "--user", &bob.email, "--role", "viewer",
        ])
        .success();
    reads(&bob, "db", &v_pw);
    reads(&bob, "wiki", &w_pw);
    reads(&carol, "db", &v_pw);
    reads(&alice2, "db", &v_pw);

    // install 5: bob's second install gets every key from bob's first; alice and carol stay
    // offline (they run nothing)
    let bob2 = bob.second_install();
    bob2.login().success();
    let approved = bob2.approve_from(&bob);
    assert!(approved["grants"].as_u64().unwrap() >= 2, "{approved}");
    reads(&bob2, "db", &v_pw);
    reads(&bob2, "wiki", &w_pw);
    // then the sharers come online: bob's installs lack nothing (alice's first sync may grant
    // V to her own second install, which read it with her identity grant so far); a second
    // sync has nothing left to replicate
    alice.run(&["sync"]).success();
    let a = alice.json(&["sync"]);
    assert_eq!(a["replicated"], 0, "{a}");
    let c = carol.json(&["sync"]);
    assert_eq!(c["replicated"], 0, "{c}");

    // unshare carol from V: the key rotates; her install reads nothing written afterwards
    alice
        .run(&["vault", "unshare", &v, "--user", &carol.email])
        .success();
    assert_eq!(epoch(&alice, &v), 2);
    let after_unshare = login_item(&alice, &v, "after-unshare");
    assert!(!secret(&carol, "after-unshare").ok);

    // bob revokes his second install: V and W rotate on their managers' next sync
    let bob2_id = bob2.json(&["status"])["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.run(&["device", "revoke", &bob2_id]).success();
    assert!(!bob2.run(&["sync"]).ok, "the revoked install is locked out");
    let synced = alice.json(&["sync"]);
    assert_eq!(synced["rotated"].as_array().unwrap().len(), 1, "{synced}");
    let synced = carol.json(&["sync"]);
    assert_eq!(synced["rotated"].as_array().unwrap().len(), 1, "{synced}");
    assert_eq!(epoch(&alice, &v), 3);
    reads(&bob, "after-unshare", &after_unshare);
    reads(&bob, "wiki", &w_pw);

    // every install of the admin is wiped: a fresh install recovers V with the paper key
    drop(alice2);
    let alice3 = alice.second_install();
    drop(alice);
    alice3.login().success();
    let restored = alice3.run_with(
        &["--json", "recovery", "restore", "--vault", &v],
        &format!("{words}\n"),
    );
    assert!(restored.ok, "{restored:#?}");
    reads(&alice3, "db", &v_pw);
    reads(&alice3, "after-unshare", &after_unshare);

    // bob forgets his password: carol (owner of beta) resets it; he confirms again in both
    // workspaces, a manager of each re-shares, and replication brings both vaults back
    let token = carol.json(&["workspace", "reset-password", &beta, &bob.email])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bob3 = bob.second_install();
    bob3.password = unique("new-pw");
    bob3.run_env(
        &["reset-password", "--email", &bob.email, "--password-stdin"],
        &format!("{}\n", bob3.password),
        &[("COFFER_RESET_TOKEN", &token)],
    )
    .success();
    assert!(
        !bob.run(&["sync"]).ok,
        "the old install is revoked by the reset"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    confirm_member(&alice3, &bob3, &acme);
    confirm_member(&carol, &bob3, &beta);
    alice3
        .run(&[
            "vault", "share", &v, "--user", &bob.email, "--role", "editor",
        ])
        .success();
    carol
        .run(&[
            "vault", "share", &w, "--user", &bob.email, "--role", "viewer",
        ])
        .success();
    reads(&bob3, "db", &v_pw);
    reads(&bob3, "wiki", &w_pw);
    // bob's writes under his new identity are accepted by the admin
    let late = login_item(&bob3, &v, "late");
    reads(&alice3, "late", &late);
}
