//! The `coffer` binary without a server: completions, help, the one-line error format, and the
//! test KSF knob that can never go below the floor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};

use common::COFFER;

fn coffer(config: &std::path::Path, args: &[&str], stdin: &str) -> common::Run {
    coffer_env(config, args, stdin, None)
}

fn coffer_env(
    config: &std::path::Path,
    args: &[&str],
    stdin: &str,
    ksf: Option<&str>,
) -> common::Run {
    use std::io::Write as _;
    let mut cmd = Command::new(COFFER);
    cmd.args(args)
        .env("COFFER_CONFIG_DIR", config)
        .env_remove("COFFER_SERVER")
        .env_remove("COFFER_PROFILE")
        .env_remove("COFFER_TEST_KSF");
    if let Some(k) = ksf {
        cmd.env("COFFER_TEST_KSF", k);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    common::Run {
        ok: o.status.success(),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn completions_and_help() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let r = coffer(dir.path(), &["completions", shell], "").success();
        assert!(r.stdout.contains("coffer"), "{shell}");
    }
    let r = coffer(dir.path(), &["--help"], "").success();
    for cmd in [
        "server",
        "signup",
        "login",
        "logout",
        "status",
        "fingerprint",
        "mfa",
        "workspace",
        "device",
        "session",
        "audit",
        "completions",
    ] {
        assert!(r.stdout.contains(cmd), "{cmd} missing from help");
    }
    let r = coffer(dir.path(), &["workspace", "--help"], "").success();
    for cmd in [
        "create", "list", "invite", "invites", "accept", "members", "role", "remove", "policy",
    ] {
        assert!(r.stdout.contains(cmd), "{cmd} missing from workspace help");
    }
}

#[test]
fn errors_are_one_line_and_status_works_offline() {
    let dir = tempfile::tempdir().unwrap();
    let st = coffer(dir.path(), &["--json", "status"], "")
        .success()
        .json();
    assert_eq!(st["profile"], "default");
    assert_eq!(st["logged_in"], false);

    let r = coffer(
        dir.path(),
        &["login", "--email", "a@b.test", "--password-stdin"],
        "pw\n",
    );
    assert!(!r.ok);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: no server URL"), "{}", r.stderr);

    let r = coffer(dir.path(), &["workspace", "list"], "").fails_with("no_server");
    assert!(r.stderr.starts_with("error: "));

    let r = coffer(dir.path(), &["--profile", "../x", "status"], "");
    assert!(r.stderr.contains("invalid profile name"), "{}", r.stderr);

    // an unreachable server: one line, transport class
    let r = coffer(
        dir.path(),
        &[
            "--server",
            "http://127.0.0.1:9",
            "signup",
            "--email",
            "a@b.test",
            "--password-stdin",
        ],
        "a long enough password\n",
    );
    assert_eq!(r.error_code(), "transport");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("a long enough password"));
}

#[test]
fn the_test_ksf_knob_cannot_go_below_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["weak", "0", "8:1:1", "below"] {
        let r = coffer_env(
            dir.path(),
            &[
                "--server",
                "http://127.0.0.1:9",
                "signup",
                "--email",
                "a@b.test",
                "--password-stdin",
            ],
            "a long enough password\n",
            Some(bad),
        );
        assert!(!r.ok);
        assert!(r.stderr.contains("COFFER_TEST_KSF"), "{bad}: {}", r.stderr);
    }
}
