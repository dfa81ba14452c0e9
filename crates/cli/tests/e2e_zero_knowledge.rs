//! End to end, zero knowledge: a whole scenario through the real `coffer` binary (a vault, an
//! item of every type, every kind of value the user types, an attachment), each value a unique
//! canary string; then every file of the server's data folder (SQLite main and value stores and
//! their `-wal`/`-shm` files) and the server's own log are scanned for every canary, as plain
//! bytes and as base64, base64url and hex (at every byte alignment), while the server runs and
//! again after it stopped. None may be found: the server learns no name, username, password,
//! note, URL, tag, TOTP secret, custom field, card or identity field, attachment byte, nor the
//! vault's name.
//!
//! THREATS.md (b) "server-blindness canaries: seed plaintext markers, then grep the database
//! dump, logs and traces for them".

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/steps.rs"]
mod steps;

use base64::Engine as _;
use common::{DataDir, Server, User, contains, files_under, unique};
use steps::*;

/// The encodings a leaked canary could take in a store or a log.
fn encodings(canary: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("plain".to_owned(), canary.to_vec())];
    let hex: String = canary.iter().map(|b| format!("{b:02x}")).collect();
    out.push(("hex".into(), hex.clone().into_bytes()));
    out.push(("HEX".into(), hex.to_uppercase().into_bytes()));
    let engines: [(&str, &base64::engine::GeneralPurpose); 2] = [
        ("base64", &base64::engine::general_purpose::STANDARD_NO_PAD),
        (
            "base64url",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ),
    ];
    for (label, engine) in engines {
        // at each of the 3 byte alignments, the characters that depend on the canary alone
        for shift in 0..3 {
            let mut buf = vec![0u8; shift];
            buf.extend_from_slice(canary);
            let enc = engine.encode(&buf);
            let start = (shift * 8).div_ceil(6) + 1;
            let end = enc.len().saturating_sub(3);
            if end > start + 8 {
                out.push((
                    format!("{label}@{shift}"),
                    enc.as_bytes()[start..end].to_vec(),
                ));
            }
        }
    }
    out
}

/// Every (file, canary label, encoding) found.
fn leaks(files: &[std::path::PathBuf], canaries: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        for (label, canary) in canaries {
            for (enc, needle) in encodings(canary) {
                if contains(&bytes, &needle) {
                    found.push(format!("{label} as {enc} in {}", f.display()));
                }
            }
        }
    }
    found
}

fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[test]
fn the_server_learns_nothing() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let user = User::new(&server, "zk");
    ready(&user);

    let canaries: std::cell::RefCell<Vec<(String, Vec<u8>)>> = Default::default();
    let c = |label: &str| {
        let v = unique(&format!("zk-{label}"));
        canaries
            .borrow_mut()
            .push((label.to_owned(), v.clone().into_bytes()));
        v
    };
    let vault_name = c("vault-name");
    let login_name = c("login-name");
    let username = c("username");
    let password = c("password");
    let url = format!("https://{}.example/login", c("url-host"));
    let tag = c("tag");
    let note = c("note");
    let field_value = c("custom-field");
    let note_name = c("note-name");
    let note_body = c("note-body");
    let secret_name = c("secret-name");
    let secret_body = c("secret-body");
    let card_name = c("card-name");
    let card_holder = c("cardholder");
    let id_name = c("identity-name");
    let id_full = c("identity-full-name");
    let id_passport = c("identity-passport");
    let id_address = c("identity-address");
    let attach_canary = c("attachment-bytes");
    let attach_name = c("attachment-name");
    // card numbers: digits only, unique per run
    let card_number = format!(
        "4{:015}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000_000_000
    );
    canaries
        .borrow_mut()
        .push(("card-number".into(), card_number.clone().into_bytes()));
    // a TOTP secret: 20 random-ish bytes, in base32 (what the user types) and raw
    let raw_totp: Vec<u8> = unique("totp")
        .bytes()
        .cycle()
        .take(20)
        .enumerate()
        .map(|(i, b)| b.wrapping_mul(31).wrapping_add(i as u8 * 7))
        .collect();
    let totp_b32 = base32(&raw_totp);
    canaries
        .borrow_mut()
        .push(("totp-base32".into(), totp_b32.clone().into_bytes()));
    canaries
        .borrow_mut()
        .push(("totp-raw".into(), raw_totp.clone()));
    let totp_uri = format!("otpauth://totp/Coffer:zk?secret={totp_b32}&issuer=Coffer");

    let vault = vault_create(&user, &vault_name);
    let login_id = id_of(&cjson(
        &user,
        &[
            "item",
            "create",
            "--type",
            "login",
            "--vault",
            &vault,
            "--name",
            &login_name,
            "--username",
            &username,
            "--password",
            "-",
            "--url",
            &url,
            "--tag",
            &tag,
            "--totp",
            &totp_uri,
            "--note",
            &note,
            "--field",
            &format!("pin={field_value}"),
        ],
        &format!("{password}\n"),
    ));
    cjson(
        &user,
        &[
            "item", "create", "--type", "note", "--vault", &vault, "--name", &note_name, "--note",
            &note_body,
        ],
        "",
    );
    cjson(
        &user,
        &[
            "item",
            "create",
            "--type",
            "secret",
            "--vault",
            &vault,
            "--name",
            &secret_name,
            "--body",
            "-",
        ],
        &format!("{secret_body}\n"),
    );
    cjson(
        &user,
        &[
            "item",
            "create",
            "--type",
            "card",
            "--vault",
            &vault,
            "--name",
            &card_name,
            "--card-number",
            &card_number,
            "--card-holder",
            &card_holder,
        ],
        "",
    );
    cjson(
        &user,
        &[
            "item",
            "create",
            "--type",
            "identity",
            "--vault",
            &vault,
            "--name",
            &id_name,
            "--full-name",
            &id_full,
            "--address",
            &id_address,
            "--hidden-field",
            &format!("passport={id_passport}"),
        ],
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(&attach_name);
    let mut bytes = Vec::new();
    for i in 0..2000 {
        bytes.extend_from_slice(attach_canary.as_bytes());
        bytes.extend_from_slice(format!(" line {i}\n").as_bytes());
    }
    std::fs::write(&file, &bytes).unwrap();
    let att = attach_add(&user, &vault, &login_id, &file);
    // edits and a sync make revisions, manifests and the sync path go through the server too
    let new_pw = c("password-2");
    set_password(&user, &vault, &login_id, &new_pw);
    sync(&user).success();
    forget_cache(&user);
    sync(&user).success();

    // everything reads back (so the canaries really were stored, encrypted)
    let got = item_get(&user, &vault, &login_id).success();
    for s in [&login_name, &username, &new_pw, &tag, &note, &field_value] {
        assert!(got.stdout.contains(s.as_str()), "{s} missing: {got:#?}");
    }
    let out = dir.path().join("back.bin");
    attach_get(&user, &vault, &login_id, &att, &out).success();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let list = coffer(&user, &["--json", "vault", "list"], "").success();
    assert!(list.stdout.contains(&vault_name), "{list:#?}");

    // while the server runs (WAL files present), then after a clean stop
    let canaries = canaries.into_inner();
    let log = server.log.clone();
    let scan =
        |what: &str| {
            let mut files = files_under(data.path());
            assert!(
                files.iter().any(|f| f.to_string_lossy().ends_with(".db")
                    || f.to_string_lossy().contains("sqlite")),
                "no database file found under {}: {files:?}",
                data.path().display()
            );
            files.push(log.clone());
            let found = leaks(&files, &canaries);
            assert!(
                found.is_empty(),
                "{what}: the server learned:\n{}",
                found.join("\n")
            );
            files.len()
        };
    let n = scan("running");
    server.stop();
    scan("stopped");
    eprintln!("scanned {n} files for {} canaries", canaries.len());
}
