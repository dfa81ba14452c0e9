//! End to end, malicious server: signed workspace policies and vault role statements
//! (docs/protocol.md §17.1, §18.6). The real `coffer` binary of each user talks to a real
//! `coffer server` through the tampering proxy (`common/proxy.rs`), or the server's SQLite is
//! edited directly where the server itself must misbehave.
//!
//! | THREATS.md row | tests |
//! |---|---|
//! | Policy flip (BW01: the auto-enrol policy was not integrity-protected) | `flipped_unsigned_or_forged_policy_is_ignored`, `stale_policy_is_ignored_and_a_signed_one_acts` |
//! | Unauthenticated settings (BW04, LP06): roles | `viewer_write_accepted_by_the_server_is_refused` |

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::KeyPair;
use coffer_crypto::statement::{PolicySettings, PolicyStatement, ROLE_EDITOR, RoleStatement};
use common::{DataDir, Server, User, unique};
use proxy::{JsonTamper, Mode, Proxy};
use serde_json::{Value, json};

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

struct World {
    data: DataDir,
    _server: Server,
    proxy: Proxy,
    alice: User,
    bob: User,
    ws: String,
}

impl World {
    /// Alice owns a workspace; Bob (developer) joined and Alice confirmed him. Both talk to the
    /// server through the proxy.
    fn new() -> Self {
        let data = DataDir::new();
        let server = Server::start(&data, &[]);
        let proxy = Proxy::start(&server.url);
        let mut alice = User::new(&server, "salice");
        let mut bob = User::new(&server, "sbob");
        alice.server = proxy.url.clone();
        bob.server = proxy.url.clone();
        alice.signup();
        bob.signup();
        let ws = unique("signedws");
        alice.json(&["workspace", "create", &ws]);
        common::join_workspace(&alice, &bob, &ws, "developer");
        common::confirm_member(&alice, &bob, &ws);
        World {
            data,
            _server: server,
            proxy,
            alice,
            bob,
            ws,
        }
    }

    fn id_of(u: &User) -> String {
        u.json(&["status"])["user_id"].as_str().unwrap().to_owned()
    }

    fn ws_id(&self) -> String {
        self.alice
            .json(&["workspace", "list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == self.ws.as_str())
            .unwrap()["workspace_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn set_policy(&self, admin_recovery: &str) -> Value {
        self.alice.json(&[
            "workspace",
            "policy",
            &self.ws,
            "--admin-recovery",
            admin_recovery,
        ])
    }

    /// Bob creates a vault in the workspace; returns the run and the share requests
    /// (`PUT /v1/vaults/{id}/members/{user}`) it sent.
    fn bob_creates_vault(&self) -> (common::Run, Vec<String>) {
        let before = self.proxy.requests().len();
        let r = self.bob.run(&[
            "vault",
            "create",
            &unique("BobVault"),
            "--workspace",
            &self.ws,
        ]);
        let shares = self.proxy.requests()[before..]
            .iter()
            .filter(|(m, p, _)| m == "PUT" && p.contains("/members/"))
            .map(|(_, p, _)| p.clone())
            .collect();
        (r.success(), shares)
    }

    /// The statement of the last `PUT …/policy` Alice sent.
    fn last_policy_statement(&self) -> String {
        let (_, _, body) = self
            .proxy
            .requests()
            .into_iter()
            .rev()
            .find(|(m, p, _)| m == "PUT" && p.ends_with("/policy"))
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        v["statement"].as_str().unwrap().to_owned()
    }
}

/// A tamper of `GET …/policy` answers.
fn policy_tamper(edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Mode {
    Mode::Json(JsonTamper(
        "/policy".into(),
        Arc::new(move |v: &mut Value| {
            if v.get("mfa_required").is_none() {
                return false;
            }
            edit(v);
            true
        }),
    ))
}

#[test]
fn flipped_unsigned_or_forged_policy_is_ignored() {
    let w = World::new();
    let signed = w.set_policy("manual");
    assert_eq!(signed["version"], 1, "{signed}");
    assert_eq!(signed["admin_recovery"], "manual");
    // honest: Bob's new vault is shared with nobody
    let (_, shares) = w.bob_creates_vault();
    assert!(shares.is_empty(), "{shares:?}");

    // 1. the server flips the clear bit, keeping the signed statement (manual)
    w.proxy.set_mode(policy_tamper(|v| {
        v["admin_recovery"] = json!("auto");
    }));
    let (r, shares) = w.bob_creates_vault();
    assert!(w.proxy.applied() > 0);
    assert!(
        shares.is_empty(),
        "a flipped bit made Bob share: {shares:?}"
    );
    assert!(
        r.stderr
            .contains("ignoring an unsigned workspace policy setting"),
        "{r:#?}"
    );

    // 2. the server drops the statement and serves auto
    w.proxy.set_mode(policy_tamper(|v| {
        v["admin_recovery"] = json!("auto");
        v.as_object_mut().unwrap().remove("statement");
    }));
    let (r, shares) = w.bob_creates_vault();
    assert!(
        shares.is_empty(),
        "an unsigned policy made Bob share: {shares:?}"
    );
    assert!(
        r.stderr.contains("ignoring an unsigned workspace policy"),
        "{r:#?}"
    );

    // 3. the server signs an auto policy with a key of its own, in Alice's name
    let fake = KeyPair::generate().unwrap();
    let forged = PolicyStatement::issue(
        &fake,
        proxy::uuid_bytes(&World::id_of(&w.alice)),
        proxy::uuid_bytes(&w.ws_id()),
        99,
        PolicySettings {
            mfa_required: false,
            admin_recovery_auto: true,
        },
        1,
    )
    .unwrap();
    let forged = b64(forged.as_bytes());
    w.proxy.set_mode(policy_tamper(move |v| {
        v["admin_recovery"] = json!("auto");
        v["statement"] = json!(forged);
    }));
    let (r, shares) = w.bob_creates_vault();
    assert!(
        shares.is_empty(),
        "a forged policy made Bob share: {shares:?}"
    );
    assert!(
        r.stderr
            .contains("ignoring a workspace policy not signed by an owner or admin"),
        "{r:#?}"
    );
}

#[test]
fn stale_policy_is_ignored_and_a_signed_one_acts() {
    let w = World::new();
    // a genuine auto policy: Bob's client shares his new vault with Alice (the owner)
    assert_eq!(w.set_policy("auto")["version"], 1);
    let v1 = w.last_policy_statement();
    let (r, shares) = w.bob_creates_vault();
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert!(
        shares[0].ends_with(&format!("/members/{}", World::id_of(&w.alice))),
        "{shares:?}"
    );
    assert!(r.stderr.contains("admin_recovery = auto"), "{r:#?}");
    w.alice.run(&["sync"]).success();
    let vaults = w.alice.json(&["vault", "list"]);
    assert!(
        vaults
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"].as_str().unwrap().starts_with("BobVault")),
        "{vaults}"
    );

    // Alice turns it off (version 2); Bob sees version 2 once
    assert_eq!(w.set_policy("manual")["version"], 2);
    let (_, shares) = w.bob_creates_vault();
    assert!(shares.is_empty(), "{shares:?}");

    // the server replays the older, genuinely signed auto policy
    w.proxy.set_mode(policy_tamper(move |v| {
        v["admin_recovery"] = json!("auto");
        v["statement"] = json!(v1);
    }));
    let (r, shares) = w.bob_creates_vault();
    assert!(w.proxy.applied() > 0);
    assert!(
        shares.is_empty(),
        "a replayed policy made Bob share: {shares:?}"
    );
    assert!(
        r.stderr.contains("ignoring a stale workspace policy"),
        "{r:#?}"
    );
}

/// Sets `user`'s role in every vault to `role` in the server's SQLite, leaving the signed
/// statement: the server now accepts writes it should refuse.
fn server_sets_role(data: &DataDir, user: &str, role: &str) {
    let url = format!("sqlite://{}", data.path().join("main.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = rt.block_on(async {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE vault_members SET role = $1 WHERE user_id = $2")
            .bind(role.to_owned())
            .bind(user.to_owned())
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected()
    });
    assert!(n > 0);
}

#[test]
fn viewer_write_accepted_by_the_server_is_refused() {
    let w = World::new();
    let (vault, pw) = common::workspace_vault_with_login(&w.alice, &w.ws, "db");
    let vault_id = w
        .alice
        .json(&["vault", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vault.as_str())
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .unwrap();
    w.alice
        .run(&[
            "vault",
            "share",
            &vault,
            "--user",
            &w.bob.email,
            "--role",
            "viewer",
        ])
        .success();
    w.bob.run(&["sync"]).success();
    let got = w.bob.json(&["item", "get", "db", "--field", "password"]);
    assert_eq!(got["value"], pw.as_str());
    // an honest server refuses the viewer's write
    let r = w.bob.run(&["item", "edit", "db", "--password", "nope"]);
    assert!(!r.ok, "{r:#?}");

    // the server makes Bob an editor in its database (his signed statement still says viewer)
    let bob_id = World::id_of(&w.bob);
    server_sets_role(&w.data, &bob_id, "editor");
    w.bob.run(&["sync"]).success();
    let evil_pw = unique("viewer-write");
    let before = w.proxy.requests().len();
    let r = w.bob.run(&["item", "edit", "db", "--password", &evil_pw]);
    assert!(
        r.ok || w.proxy.requests()[before..]
            .iter()
            .any(|(m, p, _)| m == "POST" && p.ends_with("/items")),
        "the viewer's write never reached the server: {r:#?}"
    );
    // Alice's client refuses the vault: the manifest's writer holds no signed editor role
    let r = w.alice.run(&["sync"]);
    assert!(
        !r.ok
            && r.stderr.contains("refusing a write signed by")
            && r.stderr.contains(&bob_id)
            && r.stderr.contains("viewer"),
        "{r:#?}"
    );
    // ... and keeps the last verified state: the old password, never the viewer's
    let r = w.alice.run(&["item", "get", "db", "--field", "password"]);
    assert!(!r.stdout.contains(&evil_pw), "{r:#?}");

    // The server also forges Bob an editor statement with a key of its own, in Alice's name:
    // still refused.
    let fake = KeyPair::generate().unwrap();
    {
        let alice_id = World::id_of(&w.alice);
        let bob_identity: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let seen = bob_identity.clone();
        let bob_uuid = bob_id.clone();
        w.proxy.set_mode(Mode::VaultFrames(JsonTamper(
            String::new(),
            Arc::new(move |v: &mut Value| {
                let Some(peers) = v["peers"].as_array() else {
                    return false;
                };
                let Some(keys) = peers
                    .iter()
                    .find(|p| p["user_id"] == bob_uuid.as_str())
                    .and_then(|p| p["identity_public_keys"].as_str())
                else {
                    return false;
                };
                *seen.lock().unwrap() = Some(keys.to_owned());
                let keys = URL_SAFE_NO_PAD.decode(keys).unwrap();
                let pk = coffer_crypto::PublicKeys::from_bytes(&keys).unwrap();
                let st = RoleStatement::issue(
                    &fake,
                    proxy::uuid_bytes(&alice_id),
                    proxy::uuid_bytes(&vault_id),
                    proxy::uuid_bytes(&bob_uuid),
                    &pk,
                    ROLE_EDITOR,
                    u64::MAX / 2,
                )
                .unwrap();
                let Some(roles) = v["roles"].as_array_mut() else {
                    return false;
                };
                for r in roles.iter_mut() {
                    if r["user_id"] == bob_uuid.as_str() {
                        r["statement"] = json!(b64(st.as_bytes()));
                    }
                }
                true
            }),
        )));
        let r = w.alice.run(&["sync"]);
        assert!(w.proxy.applied() > 0);
        assert!(
            !r.ok && r.stderr.contains("refusing a write signed by"),
            "{r:#?}"
        );
        assert!(bob_identity.lock().unwrap().is_some());
    }
}
