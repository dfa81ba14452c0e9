//! End to end, accounts: the real `coffer` binary against a real `coffer server` process.
//! Signup, login, a wrong password (clear error + `auth.login_failed`), devices and sessions
//! (revocation ends sessions), MFA with TOTP and recovery codes, session expiry, and no typed
//! password anywhere in the server's files or log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{DataDir, Server, User, contains, files_under};

/// Signup, status, fingerprint, logout, login, wrong password, a second and third device,
/// session and device revocation; then the plaintext scan of the server's files and log.
#[test]
fn accounts_devices_sessions_and_no_plaintext() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let alice = User::new(&server, "alice");
    let mut typed = vec![alice.password.clone()];

    // signup: this install is the first, trusted device
    let s = alice.signup();
    assert_eq!(s["email"], alice.email.as_str());
    assert_eq!(s["device_state"], "trusted");
    assert_eq!(s["new_device"], true);
    let phrase = s["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(phrase.split(' ').count(), 8);

    // the profile: 0600 files, no password, the token never printed
    let prof = alice.config.path().join("profiles").join("default");
    for f in ["profile.json", "session.json", "device.key"] {
        let mode = std::fs::metadata(prof.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    for f in files_under(alice.config.path()) {
        assert!(!contains(
            &std::fs::read(&f).unwrap(),
            alice.password.as_bytes()
        ));
    }
    let session: serde_json::Value =
        serde_json::from_slice(&std::fs::read(prof.join("session.json")).unwrap()).unwrap();
    let token = session["token"].as_str().unwrap().to_owned();

    let st = alice.json(&["status"]);
    assert_eq!(st["logged_in"], true);
    assert_eq!(st["session"]["email"], alice.email.as_str());
    assert_eq!(st["session"]["mfa_enabled"], false);
    let human = alice.run(&["status"]).success();
    assert!(human.stdout.contains(&alice.email));
    assert!(!human.stdout.contains(&token) && !st.to_string().contains(&token));

    let fp = alice.json(&["fingerprint"]);
    assert_eq!(fp["fingerprint"], phrase.as_str());

    // logout, then login again on the same (existing) device
    alice.run(&["logout"]).success();
    assert!(!prof.join("session.json").exists());
    alice.run(&["workspace", "list"]).fails_with("unauthorized");
    let l = alice.login().success().json();
    assert_eq!(l["new_device"], false);
    assert_eq!(l["device_state"], "trusted");
    assert_eq!(l["device_id"], s["device_id"]);
    assert_eq!(l["fingerprint"], phrase.as_str());

    // a wrong password: one clear line, code unauthorized, an auth.login_failed audit entry
    let wrong = common::unique("canary-wrong-pw");
    typed.push(wrong.clone());
    let failed = alice.run_with(
        &["login", "--email", &alice.email, "--password-stdin"],
        &format!("{wrong}\n"),
    );
    let r = failed.fails_with("unauthorized");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("wrong email or password"), "{}", r.stderr);
    assert!(!r.stderr.contains(&wrong));
    // the old session still works
    alice.json(&["status"]);
    // The entry belongs to no workspace (workspace audit pages do not list it), so it is found
    // in the main store's raw bytes: the action next to the target email.
    let db_bytes: Vec<u8> = files_under(data.path())
        .iter()
        .filter(|p| p.to_string_lossy().contains("main"))
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    let action = b"auth.login_failed";
    let near = db_bytes
        .windows(action.len())
        .enumerate()
        .filter(|(_, w)| *w == action)
        .any(|(i, _)| {
            let lo = i.saturating_sub(300);
            let hi = (i + 300).min(db_bytes.len());
            contains(&db_bytes[lo..hi], alice.email.as_bytes())
        });
    assert!(near, "no auth.login_failed entry for {}", alice.email);

    // a second install of the same account: a new device, pending until the first install
    // approves it after comparing codes (protocol.md §14.4)
    let mut laptop = User::new(&server, "laptop");
    laptop.email = alice.email.clone();
    laptop.password = alice.password.clone();
    let l2 = laptop.login().success().json();
    assert_eq!(l2["new_device"], true);
    assert_eq!(l2["device_state"], "pending");
    laptop.approve_from(&alice);
    assert_eq!(l2["fingerprint"], phrase.as_str());
    let laptop_device = l2["device_id"].as_str().unwrap().to_owned();

    let mut phone = User::new(&server, "phone");
    phone.email = alice.email.clone();
    phone.password = alice.password.clone();
    let l3 = phone.login().success().json();
    let phone_session = l3["session_id"].as_str().unwrap().to_owned();

    let devices = alice.json(&["device", "list"]);
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 3);
    assert_eq!(
        devices.iter().filter(|d| d["current"] == true).count(),
        1,
        "{devices:?}"
    );
    let sessions = alice.json(&["session", "list"]);
    assert!(sessions.as_array().unwrap().len() >= 3);

    // revoking a session ends it, and only it
    alice.run(&["session", "revoke", &phone_session]).success();
    phone.run(&["status"]).fails_with("unauthorized");
    laptop.json(&["status"]);

    // revoking a device ends its sessions
    alice.run(&["device", "revoke", &laptop_device]).success();
    laptop.run(&["status"]).fails_with("unauthorized");
    let devices = alice.json(&["device", "list"]);
    let revoked = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == laptop_device.as_str())
        .unwrap();
    assert_eq!(revoked["state"], "revoked");
    alice.json(&["status"]);
    // the revoked install cannot log in with its old device; it forgets the dead keys, and the
    // next login registers it again as a new, pending device
    let r = laptop.login().fails_with("forbidden");
    assert!(r.stderr.contains("revoked"), "{}", r.stderr);
    let again = laptop.login().success().json();
    assert_eq!(again["new_device"], true);
    assert_eq!(again["device_state"], "pending");
    assert_ne!(again["device_id"], laptop_device.as_str());

    // without the test knob, a new account gets the default KSF (m = 64 MiB, t = 3), and a
    // login checks the signed state against it
    let dflt = User::new(&server, "default-ksf");
    typed.push(dflt.password.clone());
    let out = dflt
        .command(&[
            "--json",
            "signup",
            "--email",
            &dflt.email,
            "--password-stdin",
        ])
        .env_remove("COFFER_TEST_KSF")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            let mut i = c.stdin.take().unwrap();
            writeln!(i, "{}", dflt.password)?;
            drop(i);
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    dflt.run(&["logout"]).success();
    dflt.login().success();
    let cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dflt.config.path().join("profiles/default/profile.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        cfg["ksf"],
        serde_json::json!({"m_kib": 65536, "t": 3, "p": 1})
    );

    // someone else, for the scan
    let bob = User::new(&server, "bob");
    typed.push(bob.password.clone());
    bob.signup();
    bob.run(&["workspace", "create", &common::unique("scan-ws")])
        .success();

    // no typed password in any file of the data folder (SQLite files, -wal, -shm, keys) nor in
    // the server log, before and after a graceful stop (which checkpoints the WAL)
    let log = server.log.clone();
    scan(&data, std::slice::from_ref(&log), &typed);
    server.stop();
    scan(&data, &[log], &typed);
}

fn scan(data: &DataDir, logs: &[std::path::PathBuf], typed: &[String]) {
    let mut files = files_under(data.path());
    files.extend(logs.iter().cloned());
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".db") || f.to_string_lossy().contains("db")),
        "no database files in {files:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for pw in typed {
            assert!(
                !contains(&bytes, pw.as_bytes()),
                "password found in {}",
                f.display()
            );
        }
    }
}

/// A TOTP code of `uri` for a time step later than every step used so far (the server accepts
/// the current step and one either side), waiting for the clock only when it must. Works
/// whether or not the server refuses replayed codes.
fn fresh_code(uri: &str, last_step: &mut u64) -> String {
    let totp = coffer_crypto::otp::Totp::from_uri(uri).unwrap();
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let step = now.as_secs() / 30;
        if let Some(s) = [step - 1, step, step + 1]
            .into_iter()
            .find(|s| *s > *last_step)
        {
            *last_step = s;
            return totp.code_at(s * 30 + 1).unwrap();
        }
        let left = 30 - now.as_secs() % 30;
        std::thread::sleep(Duration::from_secs(left) + Duration::from_millis(200));
    }
}

/// MFA enrolment, login with a TOTP code, a recovery code that works once, disabling.
#[test]
fn mfa_totp_and_recovery_codes() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let carol = User::new(&server, "carol");
    carol.signup();
    let (uri, codes) = carol.enable_mfa();
    let mut last_step = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert_eq!(codes.len(), 10);
    assert_eq!(carol.json(&["status"])["session"]["mfa_enabled"], true);

    // the human form shows the QR code and the URI
    let dave = User::new(&server, "dave");
    dave.signup();
    let human = dave.run_with(&["mfa", "enable", "--code-stdin"], "000000\n");
    assert!(human.stdout.contains("otpauth://totp/"), "{human:?}");
    assert!(human.stdout.contains('█') || human.stdout.contains('▀'));
    human.fails_with("unauthorized");

    // a workspace policy requiring MFA shuts out a member without it, not one with it
    let ws = common::unique("mfa-ws");
    carol.run(&["workspace", "create", &ws]).success();
    carol
        .run(&["workspace", "invite", &ws, &dave.email, "--role", "member"])
        .success();
    dave.run(&["workspace", "accept", &ws]).success();
    dave.run(&["workspace", "members", &ws]).success();
    carol
        .run(&["workspace", "policy", &ws, "--mfa-required", "true"])
        .success();
    dave.run(&["workspace", "members", &ws])
        .fails_with("mfa_required");
    carol.run(&["workspace", "members", &ws]).success();

    carol.run(&["logout"]).success();
    // without a second factor the login does not complete
    let r = carol.run_with(
        &[
            "login",
            "--email",
            &carol.email,
            "--password-stdin",
            "--code-stdin",
        ],
        &format!("{}\n", carol.password),
    );
    assert!(!r.ok && r.stderr.contains("code"), "{r:?}");
    carol.run(&["workspace", "list"]).fails_with("unauthorized");
    // a wrong code
    carol.login_mfa("000000").fails_with("unauthorized");
    // a right code
    let code = fresh_code(&uri, &mut last_step);
    let l = carol.login_mfa(&code).success().json();
    assert_eq!(l["email"], carol.email.as_str());
    carol.run(&["workspace", "list"]).success();

    // a recovery code works once
    carol.run(&["logout"]).success();
    let rc = codes[0].clone();
    let with_rc = |c: &str| {
        carol.run_with(
            &[
                "--json",
                "login",
                "--email",
                &carol.email,
                "--password-stdin",
                "--recovery-code",
                c,
            ],
            &format!("{}\n", carol.password),
        )
    };
    with_rc(&rc).success();
    carol.run(&["logout"]).success();
    with_rc(&rc).fails_with("unauthorized");
    with_rc(&codes[1]).success();

    // disabling needs a valid code; then a login needs none
    carol
        .run(&["mfa", "disable", "--code", "000000"])
        .fails_with("unauthorized");
    let code = fresh_code(&uri, &mut last_step);
    carol.run(&["mfa", "disable", "--code", &code]).success();
    carol.run(&["logout"]).success();
    carol.login().success();
    assert_eq!(carol.json(&["status"])["session"]["mfa_enabled"], false);
}

/// Sessions expire after the server's TTL.
#[test]
fn sessions_expire() {
    let data = DataDir::new();
    let server = Server::start(&data, &["--session-ttl", "4s"]);
    let erin = User::new(&server, "erin");
    let t0 = std::time::Instant::now();
    erin.signup();
    let st = erin.run(&["--json", "status"]);
    // On a very slow machine the session may already be gone; only a fast run proves it worked.
    if t0.elapsed() < Duration::from_secs(3) {
        assert!(st.ok, "{st:?}");
    }
    let wait = Duration::from_millis(6500).saturating_sub(t0.elapsed());
    std::thread::sleep(wait);
    let r = erin.run(&["status"]).fails_with("unauthorized");
    assert!(r.stderr.contains("coffer login"), "{}", r.stderr);
    erin.login().success();
    erin.json(&["status"]);
}
