//! CLI steps of the vault end-to-end suites (tamper, zero knowledge, big attachment): create a
//! vault, items and attachments through the real `coffer` binary, and find a profile's files.
//! Every command runs with `COFFER_KEYRING=file` so tests never touch a real keychain.
//!
//! Include it with `#[path = "common/steps.rs"] mod steps;` beside `mod common;`.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::common::{Run, User, files_under};

/// Runs `coffer ARGS` for `u` with `stdin`, the file keystore, and nothing else changed.
pub fn coffer(u: &User, args: &[&str], stdin: &str) -> Run {
    let mut child = u
        .command(args)
        .env("COFFER_KEYRING", "file")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let o = child.wait_with_output().unwrap();
    Run {
        ok: o.status.success(),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `coffer --json ARGS`, which must succeed: its JSON.
#[track_caller]
pub fn cjson(u: &User, args: &[&str], stdin: &str) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    coffer(u, &all, stdin).success().json()
}

/// The id in a JSON answer (`id`, `vault_id` or `item_id`, at the top or under `item`/`vault`).
#[track_caller]
pub fn id_of(v: &Value) -> String {
    for obj in [v, &v["item"], &v["vault"]] {
        for k in ["id", "item_id", "vault_id"] {
            if let Some(s) = obj[k].as_str() {
                return s.to_owned();
            }
        }
    }
    panic!("no id in {v}");
}

/// Signs `u` up (which leaves the profile unlocked).
pub fn ready(u: &User) {
    coffer(
        u,
        &["--json", "signup", "--email", &u.email, "--password-stdin"],
        &format!("{}\n", u.password),
    )
    .success();
}

/// Logs `u` in on its (new) profile folder: a second device of the same account.
pub fn login(u: &User) {
    coffer(
        u,
        &["--json", "login", "--email", &u.email, "--password-stdin"],
        &format!("{}\n", u.password),
    )
    .success();
}

/// `coffer vault create NAME`: the new vault's id.
pub fn vault_create(u: &User, name: &str) -> String {
    id_of(&cjson(u, &["vault", "create", name], ""))
}

/// A login item with a password read from standard input: its id.
pub fn login_item(u: &User, vault: &str, name: &str, username: &str, password: &str) -> String {
    id_of(&cjson(
        u,
        &[
            "item",
            "create",
            "--type",
            "login",
            "--vault",
            vault,
            "--name",
            name,
            "--username",
            username,
            "--password",
            "-",
        ],
        &format!("{password}\n"),
    ))
}

/// Sets a new password on an item (a new revision).
pub fn set_password(u: &User, vault: &str, item: &str, password: &str) {
    coffer(
        u,
        &[
            "--json",
            "item",
            "edit",
            item,
            "--vault",
            vault,
            "--password",
            "-",
        ],
        &format!("{password}\n"),
    )
    .success();
}

/// `coffer item get ITEM --vault VAULT` (with `--reveal` so a success would print secrets).
pub fn item_get(u: &User, vault: &str, item: &str) -> Run {
    coffer(
        u,
        &["--json", "item", "get", item, "--vault", vault, "--reveal"],
        "",
    )
}

/// `coffer item list --vault VAULT`.
pub fn item_list(u: &User, vault: &str) -> Run {
    coffer(u, &["--json", "item", "list", "--vault", vault], "")
}

/// `coffer sync`.
pub fn sync(u: &User) -> Run {
    coffer(u, &["--json", "sync"], "")
}

/// `coffer attach add ITEM FILE --vault VAULT`: the attachment id.
pub fn attach_add(u: &User, vault: &str, item: &str, file: &Path) -> String {
    id_of(&cjson(
        u,
        &[
            "attach",
            "add",
            item,
            file.to_str().unwrap(),
            "--vault",
            vault,
        ],
        "",
    ))
}

/// `coffer attach get ITEM ATTACHMENT --vault VAULT --out OUT`.
pub fn attach_get(u: &User, vault: &str, item: &str, attachment: &str, out: &Path) -> Run {
    coffer(
        u,
        &[
            "--json",
            "attach",
            "get",
            item,
            attachment,
            "--vault",
            vault,
            "--out",
            out.to_str().unwrap(),
        ],
        "",
    )
}

/// Every `cache.bin` of `u`'s profiles.
pub fn cache_files(u: &User) -> Vec<PathBuf> {
    files_under(u.config.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "cache.bin"))
        .collect()
}

/// Deletes `u`'s local caches, so the next read fetches the whole vault again (a full sync).
pub fn forget_cache(u: &User) {
    for p in cache_files(u) {
        std::fs::remove_file(p).unwrap();
    }
}

/// Asserts that a run refused: non-zero exit, an `integrity` error, and none of `secrets` on
/// standard output.
#[track_caller]
pub fn refused(run: &Run, secrets: &[&str]) {
    assert!(
        !run.ok,
        "expected a refusal, the command succeeded: {run:#?}"
    );
    assert!(
        run.stderr.to_lowercase().contains("integrity"),
        "expected an integrity error: {run:#?}"
    );
    shows_nothing(run, secrets);
}

/// Asserts that none of `secrets` is on standard output or standard error.
#[track_caller]
pub fn shows_nothing(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "{s:?} was shown: {run:#?}"
        );
    }
}
