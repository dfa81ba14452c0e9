//! End to end, malicious server, sharing rows of `shared/THREATS.md` (a): the real `coffer`
//! binary of every user talks to a real `coffer server` through the tampering proxy
//! (`common/proxy.rs`), which rewrites the JSON the server answers (workspace members, a
//! user's devices) or the vault frames of the sync stream. Each case checks the client refuses
//! with a clear error and that **no grant left the device** for a key the server chose.
//!
//! | THREATS.md row | tests |
//! |---|---|
//! | Sharing key overwrite (LP07, DL02, 1P05; NC; MX) | `substituted_recipient_identity_gets_no_grant`, `identity_attested_by_a_server_key_gets_no_grant`, `injected_device_gets_no_grant`, `rotation_skips_a_substituted_identity` |
//! | Escrow/recovery key substitution (BW01–03, LP01, 1P01) — the org/admin key | `identity_attested_by_a_server_key_gets_no_grant` (an admin key the server made up is no attester) |
//! | Forged "self-addressed" ciphertext (BW08, BW09, 1P03, 1P06) | `grant_signed_by_a_server_key_is_refused` |
//! | Metadata-key replacement (NC) | `unsigned_new_epoch_key_is_refused_and_never_written_to` |

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::{DeviceCertificate, Grant, KeyPair, PublicKeys, SymmetricKey, seal_grant};
use common::{DataDir, Server, User, unique};
use proxy::{JsonTamper, Mode, Proxy};
use serde_json::{Value, json};

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

struct World {
    _data: DataDir,
    _server: Server,
    proxy: Proxy,
    alice: User,
    bob: User,
    ws: String,
    vault: String,
    password: String,
}

impl World {
    /// Alice owns a workspace with a vault and one login; Bob joined and Alice confirmed him.
    /// Both talk to the server through the proxy.
    fn new() -> Self {
        let data = DataDir::new();
        let server = Server::start(&data, &[]);
        let proxy = Proxy::start(&server.url);
        let mut alice = User::new(&server, "ealice");
        let mut bob = User::new(&server, "ebob");
        alice.server = proxy.url.clone();
        bob.server = proxy.url.clone();
        alice.signup();
        bob.signup();
        let ws = unique("evilws");
        alice.json(&["workspace", "create", &ws]);
        common::join_workspace(&alice, &bob, &ws, "developer");
        common::confirm_member(&alice, &bob, &ws);
        let (vault, password) = common::workspace_vault_with_login(&alice, &ws, "db");
        World {
            _data: data,
            _server: server,
            proxy,
            alice,
            bob,
            ws,
            vault,
            password,
        }
    }

    fn bob_user_id(&self) -> String {
        self.bob.json(&["status"])["user_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Requests that uploaded grants (share, replication, rotation) since `from`.
    fn grant_uploads(&self, from: usize) -> Vec<(String, String, Value)> {
        self.proxy.requests()[from..]
            .iter()
            .filter(|(m, p, _)| {
                (m == "PUT" && p.contains("/members/"))
                    || (m == "POST" && (p.ends_with("/grants") || p.ends_with("/rotate")))
            })
            .map(|(m, p, b)| (m.clone(), p.clone(), serde_json::from_slice(b).unwrap()))
            .collect()
    }

    fn share_bob(&self) -> common::Run {
        self.alice.run(&[
            "--json",
            "vault",
            "share",
            &self.vault,
            "--user",
            &self.bob.email,
            "--role",
            "editor",
        ])
    }
}

/// A tamper of the workspace member list: `edit` gets Bob's entry.
fn members_tamper(bob_email: String, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Mode {
    Mode::Json(JsonTamper(
        "/members".into(),
        Arc::new(move |v: &mut Value| {
            let Some(list) = v.as_array_mut() else {
                return false;
            };
            let mut changed = false;
            for m in list.iter_mut() {
                if m["email"] == bob_email.as_str() && m.get("identity_public_keys").is_some() {
                    edit(m);
                    changed = true;
                }
            }
            changed
        }),
    ))
}

#[test]
fn substituted_recipient_identity_gets_no_grant() {
    let w = World::new();
    let evil = KeyPair::generate().unwrap();
    let evil_keys = b64(&evil.public().to_bytes());
    w.proxy
        .set_mode(members_tamper(w.bob.email.clone(), move |m| {
            m["identity_public_keys"] = json!(evil_keys);
        }));
    let before = w.proxy.requests().len();
    let r = w.share_bob();
    assert!(
        !r.ok && r.stderr.contains("refusing to trust the identity"),
        "{r:#?}"
    );
    assert!(w.proxy.applied() > 0);
    assert!(w.grant_uploads(before).is_empty(), "a grant was uploaded");
    // honest again: the share goes through and Bob reads the item
    w.proxy.set_mode(Mode::Pass);
    w.share_bob().success();
    w.bob.run(&["sync"]).success();
    let got = w.bob.json(&["item", "get", "db", "--field", "password"]);
    assert_eq!(got["value"], w.password.as_str());
}

#[test]
fn identity_attested_by_a_server_key_gets_no_grant() {
    let w = World::new();
    let bob_id = w.bob_user_id();
    // The server makes up an "admin" key pair, serves its own key for Bob and an attestation
    // of it signed by that admin key in Alice's name.
    let evil = KeyPair::generate().unwrap();
    let fake_admin = KeyPair::generate().unwrap();
    let alice_id = w.alice.json(&["status"])["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws_id = w
        .alice
        .json(&["workspace", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == w.ws.as_str())
        .unwrap()["workspace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let att = coffer_crypto::attest::Attestation::issue(
        &fake_admin,
        proxy::uuid_bytes(&alice_id),
        proxy::uuid_bytes(&ws_id),
        proxy::uuid_bytes(&bob_id),
        &evil.public(),
        u64::MAX / 2,
    )
    .unwrap();
    let (keys, att) = (b64(&evil.public().to_bytes()), b64(att.as_bytes()));
    w.proxy
        .set_mode(members_tamper(w.bob.email.clone(), move |m| {
            m["identity_public_keys"] = json!(keys);
            m["attestation"] = json!(att);
        }));
    let before = w.proxy.requests().len();
    let r = w.share_bob();
    assert!(
        !r.ok
            && r.stderr
                .contains("does not chain to an identity this device trusts"),
        "{r:#?}"
    );
    assert!(w.grant_uploads(before).is_empty(), "a grant was uploaded");
}

#[test]
fn injected_device_gets_no_grant() {
    let w = World::new();
    let bob_id = w.bob_user_id();
    // Two injected devices: one certified by a server-made identity, one with no certificate.
    let evil_identity = KeyPair::generate().unwrap();
    let evil_device = KeyPair::generate().unwrap();
    let evil_dev_id = uuid::Uuid::new_v4();
    let cert = DeviceCertificate::issue(
        &evil_identity,
        proxy::uuid_bytes(&bob_id),
        *evil_dev_id.as_bytes(),
        &evil_device.public(),
        1,
    )
    .unwrap();
    let bare_id = uuid::Uuid::new_v4();
    let keys = b64(&evil_device.public().to_bytes());
    let cert = b64(cert.as_bytes());
    w.proxy.set_mode(Mode::Json(JsonTamper(
        format!("/users/{bob_id}/devices"),
        Arc::new(move |v: &mut Value| {
            let list = v.as_array_mut().unwrap();
            list.push(json!({"device_id": evil_dev_id, "state": "trusted",
                             "public_keys": keys, "certificate": cert}));
            list.push(json!({"device_id": bare_id, "state": "trusted",
                             "public_keys": keys, "certificate": null}));
            true
        }),
    )));
    let before = w.proxy.requests().len();
    let shared = w.share_bob().success().json();
    assert!(w.proxy.applied() > 0);
    assert_eq!(shared["devices"], 1, "only Bob's real device: {shared}");
    let uploads = w.grant_uploads(before);
    assert_eq!(uploads.len(), 1);
    let grants = uploads[0].2["grants"].as_array().unwrap();
    for g in grants {
        let id = g["recipient"]["id"].as_str().unwrap();
        assert_ne!(id, evil_dev_id.to_string());
        assert_ne!(id, bare_id.to_string());
    }
}

#[test]
fn rotation_skips_a_substituted_identity() {
    let w = World::new();
    w.share_bob().success();
    let bob_id = w.bob_user_id();
    let evil = KeyPair::generate().unwrap();
    let evil_keys = b64(&evil.public().to_bytes());
    w.proxy
        .set_mode(members_tamper(w.bob.email.clone(), move |m| {
            m["identity_public_keys"] = json!(evil_keys);
        }));
    let before = w.proxy.requests().len();
    w.alice.run(&["vault", "rotate", &w.vault]).success();
    let uploads = w.grant_uploads(before);
    let rotate = uploads
        .iter()
        .find(|(_, p, _)| p.ends_with("/rotate"))
        .expect("a rotation");
    for g in rotate.2["grants"].as_array().unwrap() {
        assert_ne!(
            g["recipient"]["id"],
            bob_id.as_str(),
            "granted to a substituted key"
        );
    }
    // Bob's device got nothing of the new epoch: the latest write does not open there.
    w.proxy.set_mode(Mode::Pass);
    let later = unique("canary-after-rotation");
    w.alice
        .run(&["item", "edit", "db", "--password", &later])
        .success();
    let r = w.bob.run(&["item", "get", "db", "--field", "password"]);
    assert!(!r.ok && !r.stdout.contains(&later), "{r:#?}");
}

/// Replaces every grant of the vault frames with one of an attacker's key, sealed to the same
/// recipient key, signed by an attacker key; `epoch_bump` also announces a new epoch.
fn forged_grants(epoch_bump: u32) -> Mode {
    let signer = Arc::new(KeyPair::generate().unwrap());
    let key = Arc::new(SymmetricKey::generate().unwrap());
    Mode::VaultFrames(JsonTamper(
        String::new(),
        Arc::new(move |v: &mut Value| {
            let Some(grants) = v["grants"].as_array().cloned() else {
                return false;
            };
            let epoch = v["epoch"].as_u64().unwrap() as u32 + epoch_bump;
            let mut out = Vec::new();
            for g in grants {
                let raw = URL_SAFE_NO_PAD
                    .decode(g["grant"].as_str().unwrap())
                    .unwrap();
                let real = Grant::from_bytes(&raw).unwrap();
                let to =
                    PublicKeys::from_parts(*signer.public().signing(), *real.recipient()).unwrap();
                let ctx = real.context().clone().with_epoch(epoch);
                let forged = seal_grant(&key, &ctx, &to, &signer).unwrap();
                let mut g2 = g.clone();
                g2["grant"] = json!(b64(forged.as_bytes()));
                g2["epoch"] = json!(epoch);
                out.push(g2);
            }
            v["grants"] = json!(out);
            v["epoch"] = json!(epoch);
            true
        }),
    ))
}

#[test]
fn grant_signed_by_a_server_key_is_refused() {
    let w = World::new();
    w.share_bob().success();
    // Bob's first sync gets grants the server sealed to his own keys (valid HPKE) but signed by
    // a key of its choosing: the vault is refused, not listed, nothing is shown.
    w.proxy.set_mode(forged_grants(0));
    let r = w.bob.run(&["sync"]);
    assert!(!r.ok && r.stderr.contains("integrity"), "{r:#?}");
    assert!(r.stderr.contains("signer is not trusted"), "{r:#?}");
    let listed = w.bob.run(&["--json", "vault", "list"]);
    assert!(
        !listed.stdout.contains(&w.vault),
        "the forged vault is listed: {listed:#?}"
    );
    let r = w.bob.run(&["item", "get", "db", "--field", "password"]);
    assert!(!r.ok && !r.stdout.contains(&w.password), "{r:#?}");
}

#[test]
fn unsigned_new_epoch_key_is_refused_and_never_written_to() {
    let w = World::new();
    // Alice holds the vault; the server announces epoch 2 with a key it made up.
    w.proxy.set_mode(forged_grants(1));
    let r = w.alice.run(&["sync"]);
    assert!(!r.ok && r.stderr.contains("integrity"), "{r:#?}");
    let before = w.proxy.requests().len();
    let r = w.alice.run(&[
        "item",
        "create",
        "--vault",
        &w.vault,
        "--type",
        "login",
        "--name",
        "new",
        "--password",
        "written-under-a-server-key",
    ]);
    // Whatever the outcome, nothing was written under epoch 2.
    for (m, p, b) in &w.proxy.requests()[before..] {
        if m == "POST" && p.ends_with("/items") {
            let body: Value = serde_json::from_slice(b).unwrap();
            assert_eq!(body["epoch"], 1, "written under the forged epoch: {r:#?}");
        }
    }
}

#[test]
fn old_grant_after_a_rotation_gets_nothing_written_under_the_old_key() {
    let w = World::new();
    w.share_bob().success();
    assert_eq!(
        w.bob
            .run(&["item", "get", "db", "--field", "password"])
            .success()
            .stdout
            .trim(),
        w.password
    );
    // Alice rotates (as after a removal) and writes under epoch 2. The server then serves Bob
    // only the grants of the old epoch: he must neither read the new item nor write anything
    // under epoch 1, whose key a removed member may hold.
    w.alice.run(&["vault", "rotate", &w.vault]).success();
    let fresh = unique("epoch-2-secret");
    w.alice
        .run(&[
            "item",
            "create",
            "--vault",
            &w.vault,
            "--type",
            "login",
            "--name",
            "fresh",
            "--password",
            &fresh,
        ])
        .success();
    w.proxy.set_mode(Mode::VaultFrames(JsonTamper(
        String::new(),
        Arc::new(|v: &mut Value| {
            let epoch = v["epoch"].as_u64().unwrap();
            let Some(grants) = v["grants"].as_array().cloned() else {
                return false;
            };
            let old: Vec<Value> = grants
                .into_iter()
                .filter(|g| g["epoch"].as_u64().unwrap() < epoch)
                .collect();
            v["grants"] = json!(old);
            true
        }),
    )));
    let r = w.bob.run(&["sync"]);
    assert!(r.stderr.contains("waiting for its key"), "{r:#?}");
    let r = w.bob.run(&["item", "get", "fresh", "--field", "password"]);
    assert!(!r.ok && !r.stdout.contains(&fresh), "{r:#?}");
    let before = w.proxy.requests().len();
    let r = w.bob.run(&[
        "item",
        "create",
        "--vault",
        &w.vault,
        "--type",
        "login",
        "--name",
        "late",
        "--password",
        "must-not-leave-under-epoch-1",
    ]);
    assert!(
        !r.ok && r.stderr.contains("does not hold yet"),
        "the write must be refused: {r:#?}"
    );
    assert!(
        w.proxy.requests()[before..]
            .iter()
            .all(|(m, p, _)| !(m == "POST" && p.ends_with("/items"))),
        "an item was sent under the old key"
    );
}

#[test]
fn item_shared_alone_rolled_back_to_an_older_revision_is_refused() {
    let w = World::new();
    w.alice
        .run(&["item", "share", "db", "--user", &w.bob.email])
        .success();
    // The proxy keeps the first `GET /v1/shared-items` answer (revision 1), passes the second
    // (revision 2) through, and replays the first one from then on.
    let calls = Arc::new(std::sync::Mutex::new((0u32, Value::Null)));
    let c = Arc::clone(&calls);
    w.proxy.set_mode(Mode::Json(JsonTamper(
        "/v1/shared-items".into(),
        Arc::new(move |v: &mut Value| {
            let mut g = c.lock().unwrap();
            g.0 += 1;
            match g.0 {
                1 => {
                    g.1 = v.clone();
                    false
                }
                2 => false,
                _ => {
                    *v = g.1.clone();
                    true
                }
            }
        }),
    )));
    let first = w.bob.run(&["item", "get", "db", "--field", "password"]);
    assert_eq!(first.success().stdout.trim(), w.password);
    w.alice
        .run(&["item", "edit", "db", "--password", "revision-2-pw"])
        .success();
    let second = w.bob.run(&["item", "get", "db", "--field", "password"]);
    assert_eq!(second.success().stdout.trim(), "revision-2-pw");
    let replayed = w.bob.run(&["item", "get", "db", "--field", "password"]);
    assert!(
        !replayed.ok && replayed.stderr.contains("rollback"),
        "{replayed:#?}"
    );
    assert!(!replayed.stdout.contains(&w.password), "{replayed:#?}");
}
