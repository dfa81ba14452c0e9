//! End to end, the device key store and the unlocked state (protocol.md §14.1–§14.2): the real
//! `coffer` binary against a real `coffer server`, with `COFFER_KEYRING=file` (tests/common).
//! Signup leaves the profile unlocked; `lock`, `unlock` (wrong password refused), `unlock --raw`
//! with `COFFER_SESSION`; a second install of the same user is certified at once and trusted;
//! `device.key` holds only the sealed seed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;

use common::{DataDir, Server, User};
use serde_json::Value;

fn unlocked(u: &User) -> bool {
    let st = u.json(&["status"]);
    st["unlocked"].as_bool().unwrap()
}

fn status_with_session(u: &User, session: &str) -> Value {
    let out: Output = u
        .command(&["--json", "status"])
        .env("COFFER_SESSION", session)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn lock_unlock_raw_session_and_new_device_trust() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let alice = User::new(&server, "unlock");
    alice.signup();
    let prof = alice.config.path().join("profiles").join("default");

    // signup leaves the profile unlocked, with every secret in a 0600 file (no keychain here)
    assert!(unlocked(&alice));
    for f in ["device.key", "device.secret", "unlocked.bin", "unlock.key"] {
        assert_eq!(mode(&prof.join(f)), 0o600, "{f}");
    }
    // device.key is version 2: the seed sealed under the device KEK, no plain seed
    let dk: Value =
        serde_json::from_slice(&std::fs::read(prof.join("device.key")).unwrap()).unwrap();
    assert_eq!(dk["version"], 2, "{dk}");
    assert!(dk.get("seed").is_none(), "{dk}");
    assert!(dk["sealed"].as_str().unwrap().len() > 100, "{dk}");

    // lock: the state and its key are gone; the session stays
    let l = alice.json(&["lock"]);
    assert_eq!(l["was_unlocked"], true);
    assert!(!prof.join("unlocked.bin").exists() && !prof.join("unlock.key").exists());
    let st = alice.json(&["status"]);
    assert_eq!(st["unlocked"], false);
    assert_eq!(st["logged_in"], true);
    let text = alice.run(&["status"]).success().stdout;
    assert!(text.contains("locked"), "{text}");

    // a wrong password does not unlock
    let r = alice.run_with(&["unlock", "--password-stdin"], "not the password\n");
    assert_eq!(r.error_code(), "unauthorized", "{r:#?}");
    assert!(!unlocked(&alice));

    // the right one does
    let r = alice
        .run_with(
            &["--json", "unlock", "--password-stdin"],
            &format!("{}\n", alice.password),
        )
        .success()
        .json();
    assert_eq!(r["unlocked"], true);
    assert!(unlocked(&alice));
    alice.run(&["lock"]).success();
    assert!(!unlocked(&alice));

    // --raw prints S once and stores it nowhere
    let raw = alice
        .run_with(
            &["unlock", "--raw", "--password-stdin"],
            &format!("{}\n", alice.password),
        )
        .success();
    let s = raw.stdout.trim().to_owned();
    assert_eq!(s.len(), 43, "b64 of 32 bytes: {raw:#?}");
    assert!(!prof.join("unlock.key").exists());
    assert_eq!(status_with_session(&alice, &s)["unlocked"], true);
    assert!(!unlocked(&alice), "without COFFER_SESSION");
    // a wrong COFFER_SESSION is locked, not an error
    assert_eq!(
        status_with_session(&alice, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")["unlocked"],
        false
    );
    assert_eq!(status_with_session(&alice, "garbage!")["unlocked"], false);
    // after lock, even the right S opens nothing
    alice.run(&["lock"]).success();
    assert_eq!(status_with_session(&alice, &s)["unlocked"], false);

    // a second install of the same user: registered pending, unlocked, but refused every
    // vault until the first install approves it after comparing codes
    let mut laptop = User::new(&server, "unlock-laptop");
    laptop.email = alice.email.clone();
    laptop.password = alice.password.clone();
    let l2 = laptop.login().success().json();
    assert_eq!(l2["new_device"], true);
    assert_eq!(l2["device_state"], "pending");
    assert!(unlocked(&laptop));
    let laptop_id = l2["device_id"].as_str().unwrap().to_owned();
    let state_of = |id: &str| {
        let devices = alice.json(&["device", "list"]);
        devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == id)
            .unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(state_of(&laptop_id), "pending");
    let refused = laptop.run(&["vault", "list"]);
    assert!(
        !refused.ok && refused.stderr.contains("pending approval"),
        "{refused:#?}"
    );
    // the code the laptop shows is the one alice computes; a wrong one approves nothing
    // (alice, locked above, unlocks first: approving needs her identity key)
    alice
        .run_with(
            &["unlock", "--password-stdin"],
            &format!("{}\n", alice.password),
        )
        .success();
    let before = laptop.json(&["device", "code"]);
    assert_eq!(before["pending"], true, "{before}");
    assert!(
        before["code"].is_null(),
        "no code before an approval starts: {before}"
    );
    alice.json(&["device", "approve", "--start"]);
    let shown = laptop.json(&["device", "code"]);
    let code = shown["code"].as_str().unwrap().to_owned();
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 6, "{shown}");
    let wrong = format!("{:06}", (digits.parse::<u32>().unwrap() + 1) % 1_000_000);
    let r = alice.run(&["device", "approve", "--code", &wrong]);
    assert!(
        !r.ok && r.stderr.contains("the code does not match"),
        "{r:#?}"
    );
    assert_eq!(state_of(&laptop_id), "pending");
    let approved = alice.json(&["device", "approve", "--code", &code]);
    assert_eq!(approved["approved"], laptop_id.as_str());
    assert_eq!(state_of(&laptop_id), "trusted");
    laptop.run(&["vault", "list"]).success();
    let ldk: Value = serde_json::from_slice(
        &std::fs::read(
            laptop
                .config
                .path()
                .join("profiles")
                .join("default")
                .join("device.key"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(ldk["version"], 2);
    assert!(ldk.get("seed").is_none());

    // logout also locks
    laptop.run(&["logout"]).success();
    let lprof = laptop.config.path().join("profiles").join("default");
    assert!(!lprof.join("unlocked.bin").exists());
    // a login opens the same device keys again (local secret + server share)
    let again = laptop.login().success().json();
    assert_eq!(again["new_device"], false);
    assert_eq!(again["device_id"], laptop_id.as_str());
    assert!(unlocked(&laptop));

    // a lost local secret: the device key cannot be opened, with a clear error
    std::fs::remove_file(lprof.join("device.secret")).unwrap();
    laptop.run(&["lock"]).success();
    let r = laptop.run_with(
        &["unlock", "--password-stdin"],
        &format!("{}\n", laptop.password),
    );
    assert!(!r.ok);
    assert!(
        r.stderr.contains("local device secret is missing"),
        "{r:#?}"
    );
    assert!(!unlocked(&laptop));
    server.stop();
}
