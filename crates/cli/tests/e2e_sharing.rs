//! End to end: sharing local vaults between people, through the real `coffer` binary and a
//! real server: confirmation before sharing, roles, a second device, unshare with rotation,
//! automatic rotation after a device revocation, and replication of a missing grant by a
//! member's device while the sharer is offline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DataDir, Server, User, unique};
use serde_json::Value;

use common::{confirm_member as confirm, join_workspace as join};

fn password_of(u: &User, item: &str) -> String {
    u.json(&["item", "get", item, "--field", "password"])["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no password value"))
        .to_owned()
}

fn field(u: &User, item: &str) -> common::Run {
    u.run(&["item", "get", item, "--field", "password"])
}

fn epoch_of(u: &User, vault: &str) -> u64 {
    let list = u.json(&["vault", "list"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vault)
        .unwrap_or_else(|| panic!("{vault} not in {list}"))["epoch"]
        .as_u64()
        .unwrap()
}

/// Deletes, in the server's SQLite main store, the grants of each vault's current key addressed
/// to `device` or to `user` (what a server does after a mailbox retention window), and the
/// device's local cache: the device is then left without the key.
fn drop_current_grants(data: &DataDir, user: &str, device: &str, profile: &User) {
    let url = format!("sqlite://{}", data.path().join("main.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = rt.block_on(async {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query(
            "DELETE FROM vault_grants WHERE epoch = \
             (SELECT v.epoch FROM vaults v WHERE v.id = vault_grants.vault_id) AND \
             ((recipient_kind = 'device' AND recipient_id = $1) OR \
              (recipient_kind = 'user' AND recipient_id = $2))",
        )
        .bind(device.to_owned())
        .bind(user.to_owned())
        .execute(&mut conn)
        .await
        .unwrap()
        .rows_affected()
    });
    assert!(
        n >= 2,
        "expected the device and identity grants, deleted {n}"
    );
    for f in common::files_under(profile.config.path()) {
        if f.file_name().is_some_and(|n| n == "cache.bin") {
            std::fs::remove_file(f).unwrap();
        }
    }
}

fn member_row<'a>(rows: &'a Value, email: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == email)
        .unwrap_or_else(|| panic!("{email} not in {rows}"))
}

#[test]
fn share_roles_unshare_rotate_revoke_and_replicate() {
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
    join(&alice, &bob, &ws, "developer");
    join(&alice, &carol, &ws, "member");

    let (vault, pw) = common::workspace_vault_with_login(&alice, &ws, "db");

    // ── no grant to an identity no admin confirmed ──────────────────────────
    let r = alice.run(&[
        "vault", "share", &vault, "--user", &bob.email, "--role", "editor",
    ]);
    assert!(
        !r.ok
            && r.stderr.contains("refusing to trust the identity")
            && r.stderr.contains("confirm"),
        "{r:#?}"
    );
    bob.run(&["sync"]).success();
    assert!(
        !field(&bob, "db").ok,
        "bob must not read the vault before being confirmed and shared"
    );

    // ── confirm, then share: bob editor, carol viewer ───────────────────────
    confirm(&alice, &bob, &ws);
    confirm(&alice, &carol, &ws);
    let shared = alice.json(&[
        "vault", "share", &vault, "--user", &bob.email, "--role", "editor",
    ]);
    assert_eq!(shared["role"], "editor", "{shared}");
    assert_eq!(shared["devices"], 1, "{shared}");
    alice
        .run(&[
            "vault",
            "share",
            &vault,
            "--user",
            &carol.email,
            "--role",
            "viewer",
        ])
        .success();
    bob.run(&["sync"]).success();
    assert_eq!(password_of(&bob, "db"), pw);
    carol.run(&["sync"]).success();
    assert_eq!(password_of(&carol, "db"), pw);

    // bob (editor) writes; alice and carol read his write (signed by a device that chains to
    // bob's attested identity)
    let pw2 = unique("canary-bob-pw");
    bob.run(&["item", "edit", "db", "--password", &pw2])
        .success();
    alice.run(&["sync"]).success();
    assert_eq!(password_of(&alice, "db"), pw2);
    carol.run(&["sync"]).success();
    assert_eq!(password_of(&carol, "db"), pw2);
    // carol (viewer) may not write
    let r = carol.run(&["item", "edit", "db", "--password", "nope"]);
    assert!(!r.ok, "{r:#?}");

    let members = alice.json(&["vault", "members", &vault]);
    assert_eq!(members.as_array().unwrap().len(), 3, "{members}");
    assert_eq!(member_row(&members, &bob.email)["role"], "editor");
    assert_eq!(member_row(&members, &bob.email)["trusted"], "yes");
    // a member may not share
    bob.run(&[
        "vault",
        "share",
        &vault,
        "--user",
        &carol.email,
        "--role",
        "editor",
    ])
    .fails_with("invalid_request");

    // ── unshare carol: the key rotates; her later syncs lose the vault ──────
    assert_eq!(epoch_of(&alice, &vault), 1);
    let un = alice.json(&["vault", "unshare", &vault, "--user", &carol.email]);
    assert_eq!(un["epoch"], 2, "{un}");
    assert_eq!(epoch_of(&alice, &vault), 2);
    let pw3 = unique("canary-after-removal");
    alice
        .run(&["item", "edit", "db", "--password", &pw3])
        .success();
    carol.run(&["sync"]).success();
    assert!(!field(&carol, "db").ok, "carol still reads the vault");
    // bob got the new key with the rotation
    bob.run(&["sync"]).success();
    assert_eq!(password_of(&bob, "db"), pw3);
    assert_eq!(epoch_of(&bob, &vault), 2);

    // ── bob's second device: approved by his first, it reads the vault ──────
    let bob2 = bob.second_install();
    bob2.login().success();
    bob2.approve_from(&bob);
    bob2.run(&["sync"]).success();
    assert_eq!(password_of(&bob2, "db"), pw3);

    // ── replication: bob2 lost its grants of the current key and its cache; with alice (the
    // sharer) offline, bob's first device re-grants on its next sync; then alice does ─────────
    let status = bob2.json(&["status"]);
    let bob2_id = status["device_id"].as_str().unwrap().to_owned();
    let bob_user = status["user_id"].as_str().unwrap().to_owned();
    drop_current_grants(&data, &bob_user, &bob2_id, &bob2);
    let r = field(&bob2, "db");
    assert!(!r.ok && r.stderr.contains("not found"), "{r:#?}");
    let r = bob2.run(&["sync"]).success();
    assert!(r.stderr.contains("waiting for its key"), "{r:#?}");
    let synced = bob.json(&["sync"]);
    assert_eq!(synced["replicated"], 2, "{synced}");
    bob2.run(&["sync"]).success();
    assert_eq!(password_of(&bob2, "db"), pw3);
    drop_current_grants(&data, &bob_user, &bob2_id, &bob2);
    let synced = alice.json(&["sync"]);
    assert_eq!(synced["replicated"], 2, "{synced}");
    bob2.run(&["sync"]).success();
    assert_eq!(password_of(&bob2, "db"), pw3);

    // ── revoking bob2 flags the vault; alice's next sync rotates it ─────────
    bob.run(&["device", "revoke", &bob2_id]).success();
    let synced = alice.json(&["sync"]);
    assert_eq!(synced["rotated"].as_array().unwrap().len(), 1, "{synced}");
    assert_eq!(epoch_of(&alice, &vault), 3);
    bob.run(&["sync"]).success();
    assert_eq!(password_of(&bob, "db"), pw3);
    assert_eq!(epoch_of(&bob, &vault), 3);
}

#[test]
fn team_share_in_one_batch_is_all_or_nothing() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let alice = User::new(&server, "talice");
    let bob = User::new(&server, "tbob");
    let dave = User::new(&server, "tdave");
    for u in [&alice, &bob, &dave] {
        u.signup();
    }
    let ws = unique("team");
    alice.json(&["workspace", "create", &ws]);
    join(&alice, &bob, &ws, "member");
    join(&alice, &dave, &ws, "member");
    confirm(&alice, &bob, &ws);
    let (vault, pw) = common::workspace_vault_with_login(&alice, &ws, "api");
    // dave is not confirmed: the whole batch is refused before anything is sent
    let r = alice.run(&[
        "vault",
        "share",
        &vault,
        "--user",
        &bob.email,
        "--user",
        &dave.email,
    ]);
    assert!(!r.ok && r.stderr.contains(&dave.email), "{r:#?}");
    let members = alice.json(&["vault", "members", &vault]);
    assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
    // after confirmation, one command shares with both
    confirm(&alice, &dave, &ws);
    alice
        .run(&[
            "vault",
            "share",
            &vault,
            "--user",
            &bob.email,
            "--user",
            &dave.email,
            "--role",
            "viewer",
        ])
        .success();
    for u in [&bob, &dave] {
        u.run(&["sync"]).success();
        assert_eq!(password_of(u, "api"), pw);
    }
}

#[test]
fn one_item_shared_alone_follows_edits_and_rotations_until_unshared() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let alice = User::new(&server, "ialice");
    let bob = User::new(&server, "ibob");
    let dave = User::new(&server, "idave");
    for u in [&alice, &bob, &dave] {
        u.signup();
    }
    let ws = unique("items");
    alice.json(&["workspace", "create", &ws]);
    join(&alice, &bob, &ws, "member");
    join(&alice, &dave, &ws, "member");
    confirm(&alice, &bob, &ws);
    let (vault, pw) = common::workspace_vault_with_login(&alice, &ws, "db");
    alice
        .run(&[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "login",
            "--name",
            "other",
            "--password",
            "not-shared-pw",
        ])
        .success();

    // an unconfirmed member gets nothing
    let r = alice.run(&["item", "share", "db", "--user", &dave.email]);
    assert!(
        !r.ok && r.stderr.contains("refusing to trust the identity"),
        "{r:#?}"
    );
    // a non-manager cannot share
    let r = bob.run(&["item", "share", "db", "--user", &dave.email]);
    assert!(!r.ok, "{r:#?}");

    let shared = alice.json(&["item", "share", "db", "--user", &bob.email]);
    assert_eq!(shared["devices"], 1, "{shared}");
    assert_eq!(password_of(&bob, "db"), pw);
    assert!(!field(&bob, "other").ok, "only the shared item opens");
    let vaults = bob.json(&["vault", "list"]);
    assert!(
        vaults
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["name"] != vault.as_str()),
        "bob is not a member of the vault: {vaults}"
    );
    let list = bob.json(&["item", "shared"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "db", "{list}");

    // an edit keeps the item key: bob reads the new revision
    alice
        .run(&["item", "edit", "db", "--password", "edited-pw"])
        .success();
    assert_eq!(password_of(&bob, "db"), "edited-pw");

    // a rotation gives the item a fresh key; the rotating device re-shares it
    alice.run(&["vault", "rotate", &vault]).success();
    assert_eq!(password_of(&bob, "db"), "edited-pw");

    // unshare: the vault is flagged; alice's next sync rotates; bob reads nothing more
    alice
        .run(&["item", "unshare", "db", "--user", &bob.email])
        .success();
    let synced = alice.json(&["sync"]);
    assert_eq!(synced["rotated"].as_array().unwrap().len(), 1, "{synced}");
    assert!(!field(&bob, "db").ok, "bob must lose the item");
    assert_eq!(bob.json(&["item", "shared"]).as_array().unwrap().len(), 0);
}

/// (acknowledged device grants, emptied device grants, live identity grants) of `user`'s
/// devices and identity, read from the server's SQLite main store.
fn mailbox_counts(data: &DataDir, user: &str) -> (i64, i64, i64) {
    let url = format!("sqlite://{}", data.path().join("main.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection as _;
        use sqlx::Row as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let row = sqlx::query(
            "SELECT \
             (SELECT count(*) FROM vault_grants g JOIN devices d ON d.id = g.recipient_id \
              WHERE g.recipient_kind = 'device' AND d.user_id = $1 AND g.acked_at IS NOT NULL), \
             (SELECT count(*) FROM vault_grants g JOIN devices d ON d.id = g.recipient_id \
              WHERE g.recipient_kind = 'device' AND d.user_id = $1 AND length(g.grant_bytes) = 0), \
             (SELECT count(*) FROM vault_grants g WHERE g.recipient_kind = 'user' \
              AND g.recipient_id = $1 AND length(g.grant_bytes) > 0)",
        )
        .bind(user.to_owned())
        .fetch_one(&mut conn)
        .await
        .unwrap();
        (row.get(0), row.get(1), row.get(2))
    })
}

#[test]
fn acknowledged_device_grants_leave_the_mailbox_and_the_identity_grant_stays() {
    let data = DataDir::new();
    let server = Server::start(&data, &["--grant-retention", "1s"]);
    let alice = User::new(&server, "malice");
    let bob = User::new(&server, "mbob");
    for u in [&alice, &bob] {
        u.signup();
    }
    let ws = unique("mailbox");
    alice.json(&["workspace", "create", &ws]);
    join(&alice, &bob, &ws, "member");
    confirm(&alice, &bob, &ws);
    let (vault, pw) = common::workspace_vault_with_login(&alice, &ws, "db");
    alice
        .run(&["vault", "share", &vault, "--user", &bob.email])
        .success();
    let bob_user = bob.json(&["status"])["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        mailbox_counts(&data, &bob_user),
        (0, 0, 1),
        "nothing fetched yet"
    );
    // bob's sync opens the grant and acknowledges it; the retention (1 s) then empties it
    assert_eq!(password_of(&bob, "db"), pw);
    let mut counts = mailbox_counts(&data, &bob_user);
    for _ in 0..50 {
        if counts.1 == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        counts = mailbox_counts(&data, &bob_user);
    }
    assert_eq!(
        counts,
        (1, 1, 1),
        "acknowledged, emptied; the identity grant stays"
    );
    // the emptied grant is not served and not listed for replication; bob's install, even with
    // its cache wiped, opens the vault with the identity grant
    for f in common::files_under(bob.config.path()) {
        if f.file_name().is_some_and(|n| n == "cache.bin") {
            std::fs::remove_file(f).unwrap();
        }
    }
    assert_eq!(password_of(&bob, "db"), pw);
    let synced = alice.json(&["sync"]);
    assert_eq!(synced["replicated"], 0, "{synced}");
}
