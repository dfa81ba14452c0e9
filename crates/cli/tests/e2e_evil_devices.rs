//! End to end, malicious server, device rows of `shared/THREATS.md` (a): the real `coffer`
//! binary talks to a real `coffer server` through the tampering proxy (`common/proxy.rs`),
//! which rewrites device chains (`GET /v1/users/{id}/chain`, the `signer_chains` of sync vault
//! frames) and device lists, or acknowledges a revocation it never forwards. Each case checks the
//! client refuses loudly (an `integrity` error naming the user) and, through
//! `Proxy::requests()`, that **no grant was sealed to the bad key**.
//!
//! | THREATS.md row (issue 5 wording) | test |
//! |---|---|
//! | puts a revoked device back in a chain | `revoked_device_put_back_in_the_chain_is_refused` |
//! | drops a revocation | `dropped_revocation_is_detected` |
//! | substitutes a device key (Sharing key overwrite) | `substituted_device_key_gets_no_grant` |

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::chain::ChainLink;
use coffer_crypto::{DeviceCertificate, KeyPair};
use common::{DataDir, Server, User, unique};
use proxy::{JsonTamper, Mode, Proxy};
use serde_json::{Value, json};

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
}

struct World {
    _data: DataDir,
    _server: Server,
    proxy: Proxy,
    /// Owner of the workspace and its vault, first install.
    alice: User,
    /// Alice's second install (approved by the first).
    alice2: User,
    bob: User,
    ws: String,
    vault: String,
}

impl World {
    /// Alice owns a workspace and a vault with one login, shared with Bob as a manager; Bob is
    /// confirmed; Alice has a second install. Everyone talks through the proxy.
    fn new() -> Self {
        let data = DataDir::new();
        let server = Server::start(&data, &[]);
        let proxy = Proxy::start(&server.url);
        let mut alice = User::new(&server, "evalice");
        let mut bob = User::new(&server, "evbob");
        alice.server = proxy.url.clone();
        bob.server = proxy.url.clone();
        alice.signup();
        bob.signup();
        let ws = unique("evdevws");
        alice.json(&["workspace", "create", &ws]);
        common::join_workspace(&alice, &bob, &ws, "developer");
        common::confirm_member(&alice, &bob, &ws);
        let (vault, _) = common::workspace_vault_with_login(&alice, &ws, "db");
        let alice2 = alice.second_install();
        alice2.login().success();
        alice2.approve_from(&alice);
        alice
            .run(&[
                "vault", "share", &vault, "--user", &bob.email, "--role", "manager",
            ])
            .success();
        World {
            _data: data,
            _server: server,
            proxy,
            alice,
            alice2,
            bob,
            ws,
            vault,
        }
    }

    fn id_of(u: &User, what: &str) -> String {
        u.json(&["status"])[what].as_str().unwrap().to_owned()
    }

    /// Every grant uploaded since request `from`: (recipient id, recipient X25519 key).
    fn grant_uploads(&self, from: usize) -> Vec<(String, [u8; 32])> {
        let mut out = Vec::new();
        for (m, p, b) in &self.proxy.requests()[from..] {
            let upload = (m == "PUT" && p.contains("/members/"))
                || (m == "POST"
                    && (p.ends_with("/grants")
                        || p.ends_with("/rotate")
                        || p.ends_with("/certificate")
                        || p.ends_with("/endorsement")));
            if !upload {
                continue;
            }
            let v: Value = serde_json::from_slice(b).unwrap();
            for g in v["grants"].as_array().cloned().unwrap_or_default() {
                let grant = coffer_crypto::Grant::from_bytes(&unb64(&g["grant"])).unwrap();
                let id = g["recipient"]["id"].as_str().unwrap_or("").to_owned();
                out.push((id, *grant.recipient()));
            }
        }
        out
    }
}

/// A tamper of `user`'s chain answer and of the `signer_chains` of sync frames: `edit` gets the
/// list of links (base64 strings) of that user.
type LinksEdit = Arc<dyn Fn(&mut Vec<Value>) -> bool + Send + Sync>;

fn links_edit(edit: impl Fn(&mut Vec<Value>) -> bool + Send + Sync + 'static) -> LinksEdit {
    Arc::new(edit)
}

fn chain_answer_tamper(user: String, edit: LinksEdit) -> Mode {
    Mode::Json(JsonTamper(
        format!("/users/{user}/chain"),
        Arc::new(move |v: &mut Value| match v["links"].as_array_mut() {
            Some(links) => edit(links),
            None => false,
        }),
    ))
}

fn sync_chain_tamper(user: String, edit: LinksEdit) -> Mode {
    Mode::VaultFrames(JsonTamper(
        String::new(),
        Arc::new(move |v: &mut Value| {
            let mut changed = false;
            if let Some(chains) = v["signer_chains"].as_array_mut() {
                for c in chains.iter_mut() {
                    if c["user_id"] == user.as_str()
                        && let Some(links) = c["links"].as_array_mut()
                    {
                        changed |= edit(links);
                    }
                }
            }
            changed
        }),
    ))
}

#[test]
fn revoked_device_put_back_in_the_chain_is_refused() {
    let w = World::new();
    let alice_id = World::id_of(&w.alice, "user_id");
    let a2 = World::id_of(&w.alice2, "device_id");
    // Record alice's device list while alice2 is trusted (alice's own client reads it when it
    // rotates: she is a member of her vault), to put it back later.
    let recorded: Arc<Mutex<Option<Value>>> = Arc::default();
    let rec = recorded.clone();
    let a2c = a2.clone();
    w.proxy.set_mode(Mode::Json(JsonTamper(
        format!("/users/{alice_id}/devices"),
        Arc::new(move |v: &mut Value| {
            if let Some(d) = v
                .as_array()
                .and_then(|l| l.iter().find(|d| d["device_id"] == a2c.as_str()))
            {
                *rec.lock().unwrap() = Some(d.clone());
            }
            false
        }),
    )));
    w.alice.run(&["vault", "rotate", &w.vault]).success();
    let a2_entry = recorded
        .lock()
        .unwrap()
        .clone()
        .expect("alice2 in alice's device list");
    w.proxy.set_mode(Mode::Pass);

    // Alice revokes alice2 (honestly stored); Bob's sync then pins alice's chain with the
    // revocation (her device signed the vault's manifest).
    w.alice.json(&["device", "revoke", &a2]);
    w.alice.run(&["sync"]).success();
    w.bob.run(&["sync"]).success();

    // The server puts alice2 back: the chain without the revoke link, and alice2 trusted in the
    // device list.
    let drop_revoke = links_edit(|links| links.len() == 3 && links.pop().is_some());
    let a2_back = a2_entry.clone();
    let list_mode = move |v: &mut Value| {
        let l = v.as_array_mut().unwrap();
        if l.iter().any(|d| d["device_id"] == a2_back["device_id"]) {
            return false;
        }
        let mut e = a2_back.clone();
        e["state"] = json!("trusted");
        l.push(e);
        true
    };
    // 1. on the chain route: Bob's share to alice is refused before anything is sealed
    w.proxy
        .set_mode(chain_answer_tamper(alice_id.clone(), drop_revoke.clone()));
    let before = w.proxy.requests().len();
    let r = w.bob.run(&[
        "vault",
        "share",
        &w.vault,
        "--user",
        &w.alice.email,
        "--role",
        "manager",
    ]);
    assert!(!r.ok, "{r:#?}");
    assert!(
        r.stderr.contains("refusing the device chain of")
            && r.stderr.contains(&w.alice.email)
            && r.stderr.contains("shorter than the pinned head"),
        "{r:#?}"
    );
    assert!(w.proxy.applied() > 0);
    assert!(w.grant_uploads(before).is_empty(), "a grant was uploaded");
    // the device list alone putting alice2 back changes nothing: the chain revoked it
    w.proxy.set_mode(Mode::Json(JsonTamper(
        format!("/users/{alice_id}/devices"),
        Arc::new(list_mode),
    )));
    let before = w.proxy.requests().len();
    let shared = w.bob.json(&[
        "vault",
        "share",
        &w.vault,
        "--user",
        &w.alice.email,
        "--role",
        "manager",
    ]);
    assert_eq!(shared["devices"], 1, "{shared}");
    let uploads = w.grant_uploads(before);
    assert!(!uploads.is_empty());
    let a2_keys = unb64(&a2_entry["public_keys"]);
    for (id, key) in &uploads {
        assert_ne!(id, &a2, "a grant went to the revoked device");
        assert_ne!(
            &key[..],
            &a2_keys[32..],
            "a grant was sealed to the revoked device's key"
        );
    }
    // 2. a forged link re-adding alice2 (the server has no key of alice's to sign it)
    let forger = KeyPair::generate().unwrap();
    let a2_pk = coffer_crypto::PublicKeys::from_bytes(&a2_keys).unwrap();
    let a2_id: uuid::Uuid = a2.parse().unwrap();
    let readd = links_edit(move |links| {
        if links.len() != 3 {
            return false;
        }
        let last = ChainLink::from_bytes(&unb64(&links[2])).unwrap();
        let l = ChainLink::add(Some(&last), *a2_id.as_bytes(), &a2_pk, 9, &forger).unwrap();
        links.push(json!(b64(l.as_bytes())));
        true
    });
    w.proxy
        .set_mode(chain_answer_tamper(alice_id.clone(), readd));
    let before = w.proxy.requests().len();
    let r = w.bob.run(&[
        "vault",
        "share",
        &w.vault,
        "--user",
        &w.alice.email,
        "--role",
        "manager",
    ]);
    assert!(
        !r.ok && r.stderr.contains("refusing the device chain of"),
        "{r:#?}"
    );
    assert!(w.grant_uploads(before).is_empty(), "a grant was uploaded");
    // 3. in the sync stream: the vault signed by alice's devices is refused, loudly
    w.proxy
        .set_mode(sync_chain_tamper(alice_id.clone(), drop_revoke));
    let r = w.bob.run(&["sync"]);
    assert!(!r.ok, "{r:#?}");
    assert!(
        r.stderr.contains("integrity") && r.stderr.contains("refusing the device chain of"),
        "{r:#?}"
    );
    // honest again: everything works
    w.proxy.set_mode(Mode::Pass);
    w.bob.run(&["sync"]).success();
}

#[test]
fn dropped_revocation_is_detected() {
    let w = World::new();
    let a2 = World::id_of(&w.alice2, "device_id");
    // The server acknowledges alice's revocation of alice2 but never stores it: alice2 stays
    // trusted there and alice's chain keeps no revoke link.
    w.proxy
        .set_mode(Mode::Swallow(format!("/devices/{a2}/revoke")));
    let revoked = w.alice.json(&["device", "revoke", &a2]);
    assert_eq!(revoked["revoked"], a2.as_str());
    assert_eq!(w.proxy.applied(), 1);
    w.proxy.set_mode(Mode::Pass);
    assert!(
        w.alice2.run(&["sync"]).ok,
        "the server kept alice2 (as the attack needs)"
    );

    // Alice's device pinned its own revoke link: the chain the server serves is refused,
    // loudly, before any key is sealed (a rotation would grant alice2).
    let before = w.proxy.requests().len();
    let r = w.alice.run(&["vault", "rotate", &w.vault]);
    assert!(!r.ok, "{r:#?}");
    assert!(
        r.stderr.contains("refusing the device chain of")
            && r.stderr.contains(&w.alice.email)
            && r.stderr.contains("shorter than the pinned head"),
        "{r:#?}"
    );
    assert!(w.grant_uploads(before).is_empty(), "a grant was uploaded");
    // her sync refuses the vault her own devices signed while her chain is rolled back
    let r = w.alice.run(&["sync"]);
    assert!(
        !r.ok
            && r.stderr
                .contains("refusing the device chain of your own account"),
        "{r:#?}"
    );
    // (Bob, who never saw the revocation, cannot tell: the limit of a chain without a
    // transparency log, docs/threat-model.md §6; alice's device is what detects it.)
}

#[test]
fn substituted_device_key_gets_no_grant() {
    let w = World::new();
    // Bob gets a second install, so his chain holds two devices.
    let bob2 = w.bob.second_install();
    bob2.login().success();
    bob2.approve_from(&w.bob);
    let bob_id = World::id_of(&w.bob, "user_id");
    let b2 = World::id_of(&bob2, "device_id");
    let evil = KeyPair::generate().unwrap();
    let evil_identity = KeyPair::generate().unwrap();
    // 1. the device list serves the server's key for bob2, with a certificate the server made
    let evil_pk = evil.public();
    let cert = DeviceCertificate::issue(
        &evil_identity,
        proxy::uuid_bytes(&bob_id),
        proxy::uuid_bytes(&b2),
        &evil_pk,
        1,
    )
    .unwrap();
    let (keys, cert) = (b64(&evil_pk.to_bytes()), b64(cert.as_bytes()));
    let b2c = b2.clone();
    w.proxy.set_mode(Mode::Json(JsonTamper(
        format!("/users/{bob_id}/devices"),
        Arc::new(move |v: &mut Value| {
            let mut changed = false;
            for d in v.as_array_mut().unwrap() {
                if d["device_id"] == b2c.as_str() {
                    d["public_keys"] = json!(keys);
                    d["certificate"] = json!(cert);
                    changed = true;
                }
            }
            changed
        }),
    )));
    let (v2, _) = common::workspace_vault_with_login(&w.alice, &w.ws, "subst");
    let before = w.proxy.requests().len();
    let shared = w.alice.json(&[
        "vault",
        "share",
        &v2,
        "--user",
        &w.bob.email,
        "--role",
        "viewer",
    ]);
    assert!(w.proxy.applied() > 0);
    assert_eq!(
        shared["devices"], 1,
        "only bob's untampered device: {shared}"
    );
    let uploads = w.grant_uploads(before);
    assert!(!uploads.is_empty());
    for (id, key) in &uploads {
        assert_ne!(id, &b2, "a grant went to the substituted device");
        assert_ne!(
            key,
            evil_pk.encryption(),
            "a grant was sealed to the server's key"
        );
    }
    // 2. the server substitutes the key in bob's chain too: the link no longer verifies
    let evil_bytes = evil_pk.to_bytes();
    w.proxy.set_mode(chain_answer_tamper(
        bob_id.clone(),
        links_edit(move |links| {
            let Some(last) = links.last_mut() else {
                return false;
            };
            let mut raw = unb64(last);
            raw[58..122].copy_from_slice(&evil_bytes);
            *last = json!(b64(&raw));
            true
        }),
    ));
    let before = w.proxy.requests().len();
    let r = w.alice.run(&[
        "vault",
        "share",
        &v2,
        "--user",
        &w.bob.email,
        "--role",
        "editor",
    ]);
    assert!(!r.ok, "{r:#?}");
    assert!(
        r.stderr.contains("refusing the device chain of") && r.stderr.contains(&w.bob.email),
        "{r:#?}"
    );
    assert!(w.grant_uploads(before).is_empty(), "a grant was uploaded");
    // honest: bob2 is granted and reads the vault
    w.proxy.set_mode(Mode::Pass);
    let shared = w.alice.json(&[
        "vault",
        "share",
        &v2,
        "--user",
        &w.bob.email,
        "--role",
        "viewer",
    ]);
    assert_eq!(shared["devices"], 2, "{shared}");
    bob2.run(&["sync"]).success();
}
