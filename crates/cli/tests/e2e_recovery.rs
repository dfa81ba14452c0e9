//! End to end, recovery keys (protocol.md §19; DESIGN §5): the real `coffer` binary against a
//! real `coffer server`, through the tampering proxy of `common/proxy.rs`.
//!
//! An admin creates a vault with an item and a recovery key (the 24 words are captured from
//! standard output), loses every local profile, logs in on a fresh one (a pending device), and
//! `coffer recovery restore` with the words makes that device trusted with the vault's keys: the
//! item is readable again. Around it, each half alone is shown to recover nothing:
//!
//! - **words alone**: another user's session holding the words gets nothing (no recovery key of
//!   theirs; the share route answers `404` to their token, `401` without one);
//! - **server alone**: neither the words nor their entropy is in any file of the server's data
//!   folder or in its log;
//! - **swapped share**: a server answering another share is caught (the derived key differs
//!   from the enrolment signed by the identity): `integrity` error naming the mismatch, the
//!   device stays pending and nothing is granted;
//! - wrong words (a valid phrase of another key, an unknown word) get a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/steps.rs"]
mod steps;

use coffer_crypto::RecoveryPhrase;
use common::{DataDir, Run, Server, User, contains, files_under, unique};
use proxy::{Mode, Proxy};
use serde_json::Value;
use steps::*;

fn restore(u: &User, vault: &str, words: &str) -> Run {
    coffer(
        u,
        &["--json", "recovery", "restore", "--vault", vault],
        &format!("{words}\n"),
    )
}

fn pending(u: &User) -> bool {
    cjson(u, &["device", "code"], "")["pending"]
        .as_bool()
        .unwrap()
}

fn session_token(u: &User) -> String {
    let raw = std::fs::read(u.config.path().join("profiles/default/session.json")).unwrap();
    let v: Value = serde_json::from_slice(&raw).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// `POST /v1/recovery/{rid}/share` straight to the server with `token` (or none): the status.
fn share_status(server: &Server, rid: &str, token: Option<&str>) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/recovery/{rid}/share", server.url))
            .json(&serde_json::json!({}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

#[test]
fn recovery_restores_a_vault_on_a_fresh_device_and_needs_both_halves() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let proxy = Proxy::start(&server.url);
    let mut admin = User::new(&server, "recovery-admin");
    admin.server = proxy.url.clone();
    ready(&admin);
    let vault_name = unique("recovery-vault");
    let vault = vault_create(&admin, &vault_name);
    let secret = unique("recovery-secret-pw");
    let item = login_item(&admin, &vault, "bank", "admin", &secret);

    // A first recovery key in text mode: the words are on standard output, once.
    let text = coffer(&admin, &["recovery", "create", "--vault", &vault_name], "").success();
    assert!(text.stdout.contains("shown only now"), "{text:#?}");
    // The one used below, in JSON.
    let created = cjson(&admin, &["recovery", "create", "--vault", &vault_name], "");
    let words = created["words"].as_str().unwrap().to_owned();
    assert_eq!(words.split(' ').count(), 24, "{created}");
    assert_eq!(created["vault_id"], vault.as_str());
    assert_eq!(created["epochs"], serde_json::json!([1]));
    let rid = created["recovery_id"].as_str().unwrap().to_owned();
    let phrase = RecoveryPhrase::parse(&words).unwrap();
    let entropy = phrase.expose_entropy();
    let entropy_hex: String = entropy
        .expose_secret()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    // list: both keys, verified under the identity; never the words
    let list = coffer(&admin, &["--json", "recovery", "list"], "").success();
    let rows = list.json();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["verified"] == true)
    );
    assert!(!list.stdout.contains(&words));

    // A key rotation re-seals every item under epoch 2; the admin's recovery keys get the new
    // epoch at once (sealed to the key in the enrolment), so the restore below needs it.
    coffer(&admin, &["vault", "rotate", &vault_name], "").success();
    let rows = coffer(&admin, &["--json", "recovery", "list"], "")
        .success()
        .json();
    for r in rows.as_array().unwrap() {
        assert_eq!(r["epochs"], serde_json::json!([1, 2]), "{rows}");
    }

    // Server alone: the words and their entropy are in no file of the data folder nor the log.
    let first_four = words.split(' ').take(4).collect::<Vec<_>>().join(" ");
    let mut files = files_under(data.path());
    files.push(server.log.clone());
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for needle in [
            words.as_bytes(),
            first_four.as_bytes(),
            entropy_hex.as_bytes(),
            entropy.expose_secret().as_slice(),
        ] {
            assert!(!contains(&bytes, needle), "{} holds the words", f.display());
        }
    }

    // The admin loses every local profile and logs in on a fresh one: a pending device.
    for e in std::fs::read_dir(admin.config.path()).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    login(&admin);
    assert!(pending(&admin));
    assert!(!item_get(&admin, &vault, &item).ok);

    // Words alone: another user's session with the words recovers nothing...
    let mut other = User::new(&server, "recovery-other");
    other.server = proxy.url.clone();
    ready(&other);
    let r = restore(&other, &vault, &words);
    assert!(!r.ok && r.stderr.contains("no recovery key"), "{r:#?}");
    // ...and the share route answers their token, or no token, with nothing.
    assert_eq!(
        share_status(&server, &rid, Some(&session_token(&other))),
        404
    );
    assert_eq!(share_status(&server, &rid, None), 401);
    // ...nor does an install that is not logged in.
    let nobody = User::new(&server, "recovery-nobody");
    let r = restore(&nobody, &vault, &words);
    assert!(!r.ok, "{r:#?}");

    // Wrong words: a valid phrase of no recovery key, and an unknown word.
    let stranger = RecoveryPhrase::generate().unwrap();
    let r = restore(&admin, &vault, &stranger.expose_phrase());
    assert!(
        !r.ok && r.stderr.contains("these words are not a recovery key"),
        "{r:#?}"
    );
    let mut typo: Vec<&str> = words.split(' ').collect();
    typo[5] = "notaword";
    let r = restore(&admin, &vault, &typo.join(" "));
    assert!(
        !r.ok && r.stderr.contains("notaword") && r.stderr.contains("position 6"),
        "{r:#?}"
    );
    assert!(pending(&admin));

    // A server that swaps the share is caught; nothing is granted, the device stays pending.
    proxy.set_mode(Mode::SwapRecoveryShare(vec![0x42; 32]));
    let before = proxy.applied();
    let r = restore(&admin, &vault, &words);
    assert!(proxy.applied() > before, "the swap never applied");
    assert_eq!(r.error_code(), "integrity", "{r:#?}");
    assert!(
        r.stderr.contains("share does not match") && r.stderr.contains("Nothing was granted"),
        "{r:#?}"
    );
    assert!(!r.stdout.contains(&secret));
    proxy.set_mode(Mode::Pass);
    assert!(pending(&admin));
    assert!(!item_get(&admin, &vault, &item).ok);

    // Both halves: the words (from a file) and the admin's session restore the vault.
    let words_file = admin.config.path().join("words.txt");
    std::fs::write(&words_file, format!("  {}\n", words.to_uppercase())).unwrap();
    let done = coffer(
        &admin,
        &[
            "--json",
            "recovery",
            "restore",
            "--vault",
            &vault_name,
            "--words-file",
            words_file.to_str().unwrap(),
        ],
        "",
    )
    .success()
    .json();
    std::fs::remove_file(&words_file).unwrap();
    assert_eq!(done["recovery_id"], rid.as_str(), "{done}");
    assert_eq!(done["vault_id"], vault.as_str());
    assert_eq!(done["vault_name"], vault_name.as_str());
    // epoch 2 (the rotation) included: every item is sealed under it now
    assert_eq!(done["epochs"], serde_json::json!([1, 2]));
    assert!(!pending(&admin));
    let got = item_get(&admin, &vault, &item).success();
    assert!(got.stdout.contains(&secret), "{got:#?}");

    // The share went out once, to the admin, audited; the device was certified by recovery.
    let log = server.log_text();
    assert!(!log.contains(&words) && !log.contains(&entropy_hex));
}
