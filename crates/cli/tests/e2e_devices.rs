//! End to end: the signed device chain and admin approval (protocol.md §14.5, §14.6), through
//! the real `coffer` binary and a real server (behind a pass-through proxy that records the
//! requests, so the tests can see which keys grants were sealed to).
//!
//! - A revoked device gets nothing afterwards: a peer sharing a vault with its user grants only
//!   the devices the user's chain still trusts, and the automatic rotation leaves it out.
//! - An owner or admin approves a member's new device after comparing the code; the device then
//!   adds itself to the member's chain and opens the vaults the admin shares with the member. A
//!   plain member cannot approve.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{DataDir, Server, User, unique};
use proxy::Proxy;
use serde_json::Value;

fn device_id(u: &User) -> String {
    u.json(&["status"])["device_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The X25519 recipient key of every grant uploaded (share, replication, rotation) since
/// request `from`, with the recipient id the request names.
fn uploaded_grants(proxy: &Proxy, from: usize) -> Vec<(String, [u8; 32])> {
    let mut out = Vec::new();
    for (m, p, b) in &proxy.requests()[from..] {
        let is_upload = (m == "PUT" && p.contains("/members/"))
            || (m == "POST"
                && (p.ends_with("/grants")
                    || p.ends_with("/rotate")
                    || p.ends_with("/endorsement")));
        if !is_upload {
            continue;
        }
        let v: Value = serde_json::from_slice(b).unwrap();
        for g in v["grants"].as_array().cloned().unwrap_or_default() {
            let raw = URL_SAFE_NO_PAD
                .decode(g["grant"].as_str().unwrap())
                .unwrap();
            let grant = coffer_crypto::Grant::from_bytes(&raw).unwrap();
            let id = g["recipient"]["id"].as_str().unwrap_or("").to_owned();
            out.push((id, *grant.recipient()));
        }
    }
    out
}

#[test]
fn a_revoked_device_gets_no_grant_from_a_peer() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let proxy = Proxy::start(&server.url);
    let mut bob = User::new(&server, "dbob");
    let mut alice = User::new(&server, "dalice");
    bob.server = proxy.url.clone();
    alice.server = proxy.url.clone();
    bob.signup();
    alice.signup();
    let ws = unique("devws");
    bob.json(&["workspace", "create", &ws]);
    common::join_workspace(&bob, &alice, &ws, "developer");
    common::confirm_member(&bob, &alice, &ws);
    // alice's second install, approved by her first
    let alice2 = alice.second_install();
    alice2.login().success();
    alice2.approve_from(&alice);
    let a2 = device_id(&alice2);

    // bob shares a vault with alice: both her devices get grants
    let (v1, pw1) = common::workspace_vault_with_login(&bob, &ws, "db");
    let before = proxy.requests().len();
    let shared = bob.json(&[
        "vault",
        "share",
        &v1,
        "--user",
        &alice.email,
        "--role",
        "editor",
    ]);
    assert_eq!(shared["devices"], 2, "{shared}");
    assert!(
        uploaded_grants(&proxy, before)
            .iter()
            .any(|(id, _)| *id == a2)
    );
    alice2.run(&["sync"]).success();
    assert_eq!(
        alice2.json(&["item", "get", "db", "--field", "password"])["value"],
        pw1.as_str()
    );

    // alice revokes her second install from the first: a signed revoke link
    let before = proxy.requests().len();
    alice.json(&["device", "revoke", &a2]);
    let revoke = proxy.requests()[before..]
        .iter()
        .find(|(m, p, _)| m == "POST" && p.ends_with(&format!("/devices/{a2}/revoke")))
        .cloned()
        .expect("a revoke request");
    let body: Value = serde_json::from_slice(&revoke.2).unwrap();
    assert!(
        body["chain_link"].is_string(),
        "no revoke link sent: {body}"
    );
    // the revoked install can do nothing more
    assert!(!alice2.run(&["sync"]).ok);

    // a peer sharing afterwards grants only the device alice's chain still trusts
    let (v2, _) = common::workspace_vault_with_login(&bob, &ws, "db2");
    let before = proxy.requests().len();
    let shared = bob.json(&[
        "vault",
        "share",
        &v2,
        "--user",
        &alice.email,
        "--role",
        "viewer",
    ]);
    assert_eq!(shared["devices"], 1, "{shared}");
    let grants = uploaded_grants(&proxy, before);
    assert!(!grants.is_empty());
    assert!(
        grants.iter().all(|(id, _)| *id != a2),
        "a grant went to the revoked device"
    );
    // and bob's automatic rotation of the first vault (flagged by the revocation) leaves it out
    let before = proxy.requests().len();
    let synced = bob.json(&["sync"]);
    assert_eq!(synced["rotated"].as_array().unwrap().len(), 1, "{synced}");
    let grants = uploaded_grants(&proxy, before);
    assert!(!grants.is_empty());
    assert!(
        grants.iter().all(|(id, _)| *id != a2),
        "the rotation granted the revoked device"
    );
    alice.run(&["sync"]).success();
    assert_eq!(
        alice.json(&["item", "get", "db", "--field", "password", "--vault", &v1])["value"],
        pw1.as_str()
    );
}

#[test]
fn an_admin_approves_a_members_new_device_and_a_member_cannot() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let proxy = Proxy::start(&server.url);
    let mut alice = User::new(&server, "aadmin");
    let mut bob = User::new(&server, "amember");
    let mut carol = User::new(&server, "aplain");
    for u in [&mut alice, &mut bob, &mut carol] {
        u.server = proxy.url.clone();
        u.signup();
    }
    let ws = unique("approvews");
    alice.json(&["workspace", "create", &ws]);
    common::join_workspace(&alice, &bob, &ws, "developer");
    common::join_workspace(&alice, &carol, &ws, "developer");
    common::confirm_member(&alice, &bob, &ws);
    common::confirm_member(&alice, &carol, &ws);
    let (vault, pw) = common::workspace_vault_with_login(&alice, &ws, "db");
    alice.json(&[
        "vault", "share", &vault, "--user", &bob.email, "--role", "editor",
    ]);

    // bob's new install is pending: his own first device is not at hand
    let bob2 = bob.second_install();
    bob2.login().success();
    let code = bob2.json(&["device", "code"]);
    assert_eq!(code["pending"], true, "{code}");
    assert!(!bob2.run(&["sync"]).ok, "a pending device synced");
    let b2 = device_id(&bob2);

    // carol, a plain member, cannot approve it
    let r = carol.run(&["device", "approve", "--user", &bob.email, "--start"]);
    assert!(!r.ok && r.stderr.contains("owner or admin"), "{r:#?}");
    assert!(
        !proxy
            .requests()
            .iter()
            .any(|(m, p, _)| m == "POST" && p.ends_with("/endorsement")),
        "an endorsement was sent"
    );

    // alice (the owner) starts; bob2 shows the code; a wrong code approves nothing
    let started = alice.json(&["device", "approve", "--user", &bob.email, "--start"]);
    assert_eq!(started["started"], b2.as_str(), "{started}");
    let shown = bob2.json(&["device", "code"]);
    let shown = shown["code"].as_str().unwrap().to_owned();
    let wrong = if shown.starts_with('0') {
        "111 111"
    } else {
        "000 000"
    };
    let r = alice.run(&[
        "device", "approve", &b2, "--user", &bob.email, "--code", wrong,
    ]);
    assert!(!r.ok && r.stderr.contains("does not match"), "{r:#?}");
    let before = proxy.requests().len();
    let approved = alice.json(&[
        "device", "approve", &b2, "--user", &bob.email, "--code", &shown,
    ]);
    assert_eq!(approved["approved"], b2.as_str(), "{approved}");
    assert!(approved["grants"].as_u64().unwrap() >= 1, "{approved}");
    let endorsed = proxy.requests()[before..]
        .iter()
        .any(|(m, p, _)| m == "POST" && p.ends_with(&format!("/devices/{b2}/endorsement")));
    assert!(endorsed);

    // bob2 finishes: it checks the approval chains to alice, adds itself, and reads the vault
    let done = bob2.json(&["device", "code"]);
    assert_eq!(done["pending"], false, "{done}");
    assert_eq!(done["approved_by"], alice.email.as_str(), "{done}");
    bob2.run(&["sync"]).success();
    assert_eq!(
        bob2.json(&["item", "get", "db", "--field", "password"])["value"],
        pw.as_str()
    );
    // bob's first device and alice both see bob2 in bob's chain: alice's next share to bob
    // grants it
    let (v2, _) = common::workspace_vault_with_login(&alice, &ws, "db2");
    let shared = alice.json(&[
        "vault", "share", &v2, "--user", &bob.email, "--role", "viewer",
    ]);
    assert_eq!(shared["devices"], 2, "{shared}");
    bob.run(&["sync"]).success();
}
