//! End to end, vaults and items through the real `coffer` binary and a real server: vault
//! create/list/rename/delete, one item of every type with every kind of value, `get --field`
//! and `--json`, masking, edit/history/restore, names by unique prefix and the ambiguous-prefix
//! error, search, `coffer totp` on the RFC 6238 SHA-1 vectors, `coffer generate`, a conflict
//! between two installs of the same account, attachments of a few MiB compared byte for byte,
//! and reads from the encrypted cache with the server stopped. Every profile uses the file key
//! store (`COFFER_KEYRING=file`) and the test KSF floor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;

use common::{DataDir, Run, Server, User, unique};
use serde_json::Value;

const KEYRING: (&str, &str) = ("COFFER_KEYRING", "file");

/// RFC 6238 appendix B, SHA-1 rows (8 digits, period 30): (time, code).
const RFC6238_SHA1: [(u64, &str); 6] = [
    (59, "94287082"),
    (1_111_111_109, "07081804"),
    (1_111_111_111, "14050471"),
    (1_234_567_890, "89005924"),
    (2_000_000_000, "69279037"),
    (20_000_000_000, "65353130"),
];
/// ASCII "12345678901234567890" in base32.
const RFC6238_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn run(u: &User, args: &[&str]) -> Run {
    u.run_env(args, "", &[KEYRING])
}

fn run_in(u: &User, args: &[&str], stdin: &str) -> Run {
    u.run_env(args, stdin, &[KEYRING])
}

#[track_caller]
fn json(u: &User, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    run(u, &all).success().json()
}

#[track_caller]
fn fails(r: Run, needle: &str) -> Run {
    assert!(!r.ok, "expected a failure: {r:#?}");
    assert!(
        r.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "stderr lacks {needle:?}: {r:#?}"
    );
    r
}

fn signup(u: &User) {
    u.run_env(
        &["--json", "signup", "--email", &u.email, "--password-stdin"],
        &format!("{}\n", u.password),
        &[KEYRING],
    )
    .success();
}

fn login(u: &User) {
    u.run_env(
        &["--json", "login", "--email", &u.email, "--password-stdin"],
        &format!("{}\n", u.password),
        &[KEYRING],
    )
    .success();
}

fn names(list: &Value) -> HashSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

fn field(u: &User, item: &str, f: &str) -> String {
    let r = run(u, &["item", "get", item, "--field", f]).success();
    r.stdout.trim_end_matches('\n').to_owned()
}

#[test]
fn generate_passwords_and_passphrases() {
    // no server, no login: a fresh profile folder only
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let u = User::new(&server, "gen");
    drop(server);

    let pw = run(&u, &["generate"]).success().stdout;
    let pw = pw.trim_end();
    assert_eq!(pw.chars().count(), 20, "{pw}");
    assert!(pw.chars().any(|c| c.is_ascii_lowercase()));
    assert!(pw.chars().any(|c| c.is_ascii_uppercase()));
    assert!(pw.chars().any(|c| c.is_ascii_digit()));
    assert!(pw.chars().any(|c| c.is_ascii_punctuation()));

    let mut seen = HashSet::new();
    for _ in 0..5 {
        let v = json(&u, &["generate", "--length", "40", "--no-symbols"]);
        let s = v["value"].as_str().unwrap().to_owned();
        assert_eq!(s.len(), 40);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()), "{s}");
        assert!(
            !s.chars().any(|c| "Il1O0o".contains(c)),
            "look-alike in {s}"
        );
        let bits = v["entropy_bits"].as_f64().unwrap();
        // 56 characters (62 minus 6 look-alikes): 40 · log2(56) ≈ 232.3
        assert!(bits > 230.0 && bits < 232.4, "{bits}");
        assert!(seen.insert(s), "repeated password");
    }
    let digits = json(
        &u,
        &[
            "generate",
            "--length",
            "12",
            "--no-symbols",
            "--no-uppercase",
            "--no-lowercase",
            "--allow-lookalikes",
        ],
    );
    let d = digits["value"].as_str().unwrap();
    assert!(
        d.len() == 12 && d.chars().all(|c| c.is_ascii_digit()),
        "{d}"
    );
    assert!((digits["entropy_bits"].as_f64().unwrap() - 39.9).abs() < 0.06);

    let phrase = json(
        &u,
        &[
            "generate",
            "--passphrase",
            "--words",
            "5",
            "--separator",
            ".",
            "--capitalize",
            "--number",
        ],
    );
    let p = phrase["value"].as_str().unwrap();
    let words: Vec<&str> = p.split('.').collect();
    assert_eq!(words.len(), 5, "{p}");
    assert!(
        words
            .iter()
            .all(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
    );
    assert_eq!(p.chars().filter(char::is_ascii_digit).count(), 1, "{p}");
    // 5 · log2(7776) + log2(10) ≈ 67.9
    assert!((phrase["entropy_bits"].as_f64().unwrap() - 67.9).abs() < 0.06);
    let plain = run(&u, &["generate", "--passphrase"]).success().stdout;
    assert!(plain.trim_end().split('-').count() >= 6, "{plain}");

    fails(run(&u, &["generate", "--length", "3"]), "between 4");
    fails(run(&u, &["generate", "--length", "2000"]), "1024");
    fails(
        run(
            &u,
            &[
                "generate",
                "--no-symbols",
                "--no-digits",
                "--no-uppercase",
                "--no-lowercase",
            ],
        ),
        "no character class",
    );
    fails(
        run(&u, &["generate", "--passphrase", "--words", "2"]),
        "between 3",
    );
    assert!(!run(&u, &["generate", "--passphrase", "--length", "9"]).ok);
    assert!(!run(&u, &["generate", "--words", "9"]).ok);
}

#[test]
fn vaults_items_totp_attachments_and_offline_reads() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let u = User::new(&server, "vaults");
    signup(&u);

    // ── vaults ──────────────────────────────────────────────────────────────
    let vault = unique("Personal");
    let created = json(&u, &["vault", "create", &vault]);
    assert_eq!(created["name"], vault.as_str(), "{created}");
    let scratch = unique("Scratch");
    run(&u, &["vault", "create", &scratch]).success();
    let listed = json(&u, &["vault", "list"]);
    assert!(names(&listed).contains(&vault) && names(&listed).contains(&scratch));

    // ── one item of each type ───────────────────────────────────────────────
    let canary_pw = unique("canary-item-pw");
    let login = json(
        &u,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "login",
            "--name",
            "GitHub work",
            "--username",
            "octo",
            "--password",
            &canary_pw,
            "--url",
            "https://github.com",
            "--url",
            "https://gh.io",
            "--totp",
            RFC6238_SECRET,
            "--backup-code",
            "bk-1111",
            "--backup-code",
            "bk-2222",
            "--note",
            "the work account",
            "--field",
            "team=platform",
            "--hidden-field",
            "pin=8642",
            "--tag",
            "work",
            "--tag",
            "dev",
        ],
    );
    assert_eq!(login["name"], "GitHub work");
    assert_eq!(login["type"], "login");
    let login_id = login["id"].as_str().unwrap().to_owned();

    json(
        &u,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "note",
            "--name",
            "Wifi note",
            "--note",
            "router in the attic",
        ],
    );
    // the secret's body from standard input: never in argv
    let body = unique("sk_live");
    run_in(
        &u,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "secret",
            "--name",
            "Stripe key",
            "--body",
            "-",
        ],
        &format!("{body}\n"),
    )
    .success();
    json(
        &u,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "card",
            "--name",
            "Visa card",
            "--card-number",
            "4111111111111111",
            "--card-holder",
            "Ada Lovelace",
            "--card-expiry",
            "12/29",
            "--card-cvv",
            "123",
        ],
    );
    json(
        &u,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "identity",
            "--name",
            "Me",
            "--full-name",
            "Ada Lovelace",
            "--email",
            "ada@example.org",
            "--phone",
            "+44 20 0000 0000",
            "--address",
            "12 St James's Square, London",
            "--company",
            "Analytical Engines",
        ],
    );
    // a password read from standard input, and one generated
    run_in(
        &u,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "login",
            "--name",
            "GitLab",
            "--password",
            "-",
        ],
        "from-stdin-pw\n",
    )
    .success();
    run(
        &u,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "login",
            "--name",
            "Generated",
            "--generate",
            "--length",
            "32",
            "--no-symbols",
        ],
    )
    .success();
    // bad input is refused with a clear message
    fails(
        run(
            &u,
            &[
                "item", "create", "--vault", &vault, "--type", "boat", "--name", "x",
            ],
        ),
        "unknown item type",
    );
    fails(
        run(
            &u,
            &[
                "item",
                "create",
                "--vault",
                &vault,
                "--type",
                "login",
                "--name",
                "x",
                "--totp",
                "not base32!",
            ],
        ),
        "totp",
    );
    fails(
        run(
            &u,
            &[
                "item",
                "create",
                "--vault",
                &vault,
                "--type",
                "note",
                "--name",
                "x",
                "--card-number",
                "1",
            ],
        ),
        "card items",
    );
    fails(
        run(
            &u,
            &[
                "item", "create", "--vault", &vault, "--type", "login", "--name", "x", "--field",
                "novalue",
            ],
        ),
        "NAME=VALUE",
    );

    // ── get: --field, --json, masking ──────────────────────────────────────────
    assert_eq!(field(&u, "GitHub work", "password"), canary_pw);
    assert_eq!(field(&u, "GitHub work", "username"), "octo");
    assert_eq!(field(&u, "GitHub work", "pin"), "8642");
    assert_eq!(field(&u, "GitHub work", "team"), "platform");
    assert_eq!(field(&u, "GitHub work", "url"), "https://github.com");
    assert_eq!(field(&u, "GitLab", "password"), "from-stdin-pw");
    assert_eq!(field(&u, "Stripe key", "body"), body);
    assert_eq!(field(&u, "Visa card", "card.number"), "4111111111111111");
    assert_eq!(field(&u, "Me", "identity.email"), "ada@example.org");
    let generated = field(&u, "Generated", "password");
    assert!(generated.len() == 32 && generated.chars().all(|c| c.is_ascii_alphanumeric()));
    fails(
        run(&u, &["item", "get", "Wifi note", "--field", "password"]),
        "no field",
    );

    let full = json(&u, &["item", "get", "GitHub work"]);
    assert_eq!(full["id"], login_id.as_str());
    assert_eq!(full["password"], canary_pw.as_str());
    assert_eq!(full["username"], "octo");
    assert_eq!(full["notes"], "the work account");
    assert_eq!(full["urls"][1], "https://gh.io");
    assert_eq!(full["tags"][0], "work");
    assert_eq!(full["backup_codes"][1], "bk-2222");
    assert!(
        full["totp"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/"),
        "{full}"
    );
    let pin = full["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "pin")
        .unwrap();
    assert_eq!(pin["value"], "8642");
    assert_eq!(pin["hidden"], true);
    let card = json(&u, &["item", "get", "Visa card"]);
    assert_eq!(card["card"]["cvv"], "123");
    assert_eq!(card["card"]["cardholder"], "Ada Lovelace");
    let id = json(&u, &["item", "get", "Me"]);
    assert_eq!(id["identity"]["company"], "Analytical Engines");
    assert_eq!(id["type"], "identity");

    let shown = run(&u, &["item", "get", "GitHub work"]).success().stdout;
    assert!(
        shown.contains("octo") && shown.contains("https://gh.io"),
        "{shown}"
    );
    assert!(shown.contains("********"), "{shown}");
    for hidden in [canary_pw.as_str(), "8642", "bk-1111", RFC6238_SECRET] {
        assert!(!shown.contains(hidden), "{hidden} shown unmasked:\n{shown}");
    }
    assert!(
        shown.contains("platform"),
        "visible field is shown: {shown}"
    );
    let revealed = run(&u, &["item", "get", "GitHub work", "--reveal"])
        .success()
        .stdout;
    assert!(revealed.contains(&canary_pw) && revealed.contains("8642"));
    let card_text = run(&u, &["item", "get", "Visa card"]).success().stdout;
    assert!(!card_text.contains("4111111111111111") && !card_text.contains(" 123 "));

    // ── names: unique prefix, ambiguous prefix, ids ──────────────────────────────
    assert_eq!(field(&u, "Strip", "body"), body);
    assert_eq!(field(&u, &login_id, "username"), "octo");
    assert_eq!(field(&u, &login_id[..8], "username"), "octo");
    let amb = fails(run(&u, &["item", "get", "Git"]), "ambiguous");
    assert!(
        amb.stderr.contains("GitHub work") && amb.stderr.contains("GitLab"),
        "candidates listed: {amb:#?}"
    );
    assert!(!run(&u, &["item", "get", "no-such-item"]).ok);

    // ── search and list ──────────────────────────────────────────────────────────
    let all = json(&u, &["item", "list", "--vault", &vault]);
    assert_eq!(
        names(&all),
        [
            "GitHub work",
            "Wifi note",
            "Stripe key",
            "Visa card",
            "Me",
            "GitLab",
            "Generated"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    let hits = json(&u, &["item", "list", "--search", "GH.IO"]);
    assert_eq!(names(&hits), HashSet::from(["GitHub work".to_owned()]));
    let hits = json(&u, &["item", "list", "--search", "dev"]);
    assert_eq!(names(&hits), HashSet::from(["GitHub work".to_owned()]));
    // search never looks into secrets
    let hits = json(&u, &["item", "list", "--search", &canary_pw]);
    assert_eq!(hits.as_array().unwrap().len(), 0);
    let table = run(&u, &["item", "list"]).success().stdout;
    assert!(table.contains("Visa card") && !table.contains("4111111111111111"));
    assert_eq!(
        json(&u, &["item", "list", "--vault", &scratch])
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // ── TOTP: RFC 6238 SHA-1 vectors ─────────────────────────────────────────────
    let rfc_uri =
        format!("otpauth://totp/RFC:6238?secret={RFC6238_SECRET}&issuer=RFC&digits=8&period=30");
    run(
        &u,
        &[
            "item", "create", "--vault", &vault, "--type", "login", "--name", "RFC totp", "--totp",
            &rfc_uri,
        ],
    )
    .success();
    let text = run(&u, &["totp", "RFC totp", "--at", "59"])
        .success()
        .stdout;
    assert!(text.starts_with("94287082"), "{text}");
    assert!(text.contains("1s left"), "{text}");
    for (t, code) in RFC6238_SHA1 {
        let v = json(&u, &["totp", "RFC totp", "--at", &t.to_string()]);
        assert_eq!(v["code"], code, "at {t}");
        assert_eq!(v["seconds_left"], 30 - t % 30);
    }
    // the bare secret was stored as a 6-digit SHA-1 URI: the RFC code's last 6 digits
    assert_eq!(
        json(&u, &["totp", "GitHub", "--at", "59"])["code"],
        "287082"
    );
    fails(run(&u, &["totp", "Wifi note"]), "no TOTP");
    let now = json(&u, &["totp", "RFC totp"]);
    let left = now["seconds_left"].as_u64().unwrap();
    assert!((1..=30).contains(&left));

    // ── edit, history, restore ───────────────────────────────────────────────────
    let edited = json(
        &u,
        &[
            "item",
            "edit",
            "GitHub work",
            "--username",
            "octocat",
            "--url",
            "https://github.com/login",
            "--remove-url",
            "https://gh.io",
            "--remove-field",
            "team",
            "--remove-tag",
            "dev",
            "--tag",
            "important",
            "--hidden-field",
            "pin=1357",
        ],
    );
    let rev2 = edited["revision"].as_u64().unwrap();
    let after = json(&u, &["item", "get", "GitHub work"]);
    assert_eq!(after["username"], "octocat");
    assert_eq!(
        after["urls"],
        serde_json::json!(["https://github.com", "https://github.com/login"])
    );
    assert_eq!(after["tags"], serde_json::json!(["work", "important"]));
    assert_eq!(after["fields"].as_array().unwrap().len(), 1);
    assert_eq!(
        after["password"],
        canary_pw.as_str(),
        "untouched values stay"
    );
    run(
        &u,
        &["item", "edit", "GitHub work", "--name", "GitHub (work)"],
    )
    .success();
    fails(
        run(
            &u,
            &["item", "edit", "GitHub (work)", "--remove-tag", "nope"],
        ),
        "no tag",
    );
    fails(
        run(&u, &["item", "edit", "GitHub (work)"]),
        "nothing to change",
    );

    let history = json(&u, &["item", "history", "GitHub (work)"]);
    let revs: Vec<&Value> = history.as_array().unwrap().iter().collect();
    assert!(revs.len() >= 3, "{history}");
    let first = revs
        .iter()
        .find(|h| h["data"]["username"] == "octo")
        .unwrap_or_else(|| panic!("first revision in history: {history}"));
    let first_rev = first["revision"].as_u64().unwrap();
    assert!(first_rev < rev2);
    let text = run(&u, &["item", "history", "GitHub (work)"])
        .success()
        .stdout;
    assert!(!text.contains(&canary_pw), "history table shows no secret");

    let restored = json(
        &u,
        &[
            "item",
            "restore",
            "GitHub (work)",
            "--revision",
            &first_rev.to_string(),
        ],
    );
    assert!(restored["revision"].as_u64().unwrap() > rev2);
    let back = json(&u, &["item", "get", &login_id]);
    assert_eq!(back["name"], "GitHub work");
    assert_eq!(back["username"], "octo");
    assert_eq!(back["fields"].as_array().unwrap().len(), 2);
    assert!(!run(&u, &["item", "restore", &login_id, "--revision", "999"]).ok);

    // ── delete ───────────────────────────────────────────────────────────────────
    fails(run(&u, &["item", "delete", "GitLab"]), "--yes");
    assert_eq!(field(&u, "GitLab", "password"), "from-stdin-pw");
    run(&u, &["item", "delete", "GitLab", "--yes"]).success();
    assert!(!run(&u, &["item", "get", "GitLab"]).ok);
    // with GitLab gone, "Git" names one item
    assert_eq!(field(&u, "Git", "username"), "octo");

    // ── attachments ─────────────────────────────────────────────────────────────
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("backup.bin");
    let mut bytes = Vec::with_capacity(3 * 1024 * 1024 + 777);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..bytes.capacity() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    std::fs::write(&big, &bytes).unwrap();
    let small = dir.path().join("notes.txt");
    std::fs::write(&small, b"hello attachment\n").unwrap();
    let added = json(&u, &["attach", "add", "Stripe key", big.to_str().unwrap()]);
    assert_eq!(added["name"], "backup.bin");
    assert_eq!(added["size"], bytes.len() as u64);
    run(
        &u,
        &["attach", "add", "Stripe key", small.to_str().unwrap()],
    )
    .success();
    let list = json(&u, &["attach", "list", "Stripe key"]);
    assert_eq!(
        names(&list),
        HashSet::from(["backup.bin".to_owned(), "notes.txt".to_owned()])
    );
    let out = dir.path().join("back.bin");
    run(
        &u,
        &[
            "attach",
            "get",
            "Stripe key",
            "backup.bin",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .success();
    assert!(std::fs::read(&out).unwrap() == bytes, "byte-for-byte");
    fails(
        run(&u, &["attach", "delete", "Stripe key", "notes.txt"]),
        "--yes",
    );
    run(
        &u,
        &["attach", "delete", "Stripe key", "notes.txt", "--yes"],
    )
    .success();
    let list = json(&u, &["attach", "list", "Stripe key"]);
    assert_eq!(names(&list), HashSet::from(["backup.bin".to_owned()]));
    assert!(
        !run(
            &u,
            &[
                "attach",
                "get",
                "Stripe key",
                "notes.txt",
                "--out",
                "/dev/null"
            ]
        )
        .ok
    );
    // the server keeps no plaintext of the attachment
    let marker = &bytes[1000..1064];
    for f in common::files_under(data.path()) {
        let content = std::fs::read(&f).unwrap_or_default();
        assert!(!common::contains(&content, marker), "{}", f.display());
        assert!(
            !common::contains(&content, canary_pw.as_bytes()),
            "item password in {}",
            f.display()
        );
        assert!(!common::contains(&content, body.as_bytes()));
    }

    // ── vault rename and delete ─────────────────────────────────────────────────
    let renamed = unique("Renamed");
    run(&u, &["vault", "rename", &scratch, &renamed]).success();
    let listed = json(&u, &["vault", "list"]);
    assert!(names(&listed).contains(&renamed) && !names(&listed).contains(&scratch));
    fails(run(&u, &["vault", "delete", &renamed]), "--yes");
    run(&u, &["vault", "delete", &renamed, "--yes"]).success();
    assert!(!names(&json(&u, &["vault", "list"])).contains(&renamed));

    let synced = run(&u, &["--json", "sync"]).success();
    assert!(synced.json().is_object(), "{synced:#?}");

    // ── offline: the server stops, reads come from the encrypted cache ─────────────
    server.stop();
    let r = run(&u, &["item", "get", "Stripe key", "--field", "body"]).success();
    assert_eq!(r.stdout.trim_end(), body);
    assert!(r.stderr.to_lowercase().contains("offline"), "{r:#?}");
    let r = run(&u, &["--json", "item", "list", "--search", "visa"]).success();
    assert_eq!(names(&r.json()), HashSet::from(["Visa card".to_owned()]));
    assert!(r.stderr.to_lowercase().contains("offline"), "{r:#?}");
    let r = run(&u, &["totp", "RFC totp", "--at", "59"]).success();
    assert!(r.stdout.starts_with("94287082"));
    // writes need the server
    assert!(!run(&u, &["item", "edit", "Visa card", "--card-cvv", "999"]).ok);
}

#[test]
fn conflicting_edits_from_two_installs() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let a = User::new(&server, "conflict");
    signup(&a);
    let vault = unique("Shared");
    run(&a, &["vault", "create", &vault]).success();
    run(
        &a,
        &[
            "item",
            "create",
            "--vault",
            &vault,
            "--type",
            "login",
            "--name",
            "Router",
            "--password",
            "original",
        ],
    )
    .success();

    // the same person on a second machine
    let b = a.second_install();
    login(&b);
    // pending until the first install approves it
    let refused = run(&b, &["sync"]);
    assert!(!refused.ok, "{refused:#?}");
    assert!(
        refused.stderr.contains("pending approval"),
        "{}",
        refused.stderr
    );
    let approval = b.approve_from(&a);
    assert!(approval["grants"].as_u64().unwrap() >= 1, "{approval}");
    run(&b, &["sync"]).success();
    let seen = json(&b, &["item", "get", "Router"]);
    assert_eq!(seen["password"], "original");
    let base = seen["revision"].as_u64().unwrap().to_string();

    // A edits; B then edits from the revision it read
    run(&a, &["item", "edit", "Router", "--password", "from-a"]).success();
    let r = run(
        &b,
        &[
            "item",
            "edit",
            "Router",
            "--password",
            "from-b",
            "--if-revision",
            &base,
        ],
    );
    let r = fails(r, "changed since");
    assert_eq!(r.error_code(), "conflict", "{r:#?}");

    // nothing was overwritten: both see A's value
    assert_eq!(field(&a, "Router", "password"), "from-a");
    assert_eq!(field(&b, "Router", "password"), "from-a");
    // from the current revision B's edit goes through
    let now = json(&b, &["item", "get", "Router"])["revision"]
        .as_u64()
        .unwrap()
        .to_string();
    run(
        &b,
        &[
            "item",
            "edit",
            "Router",
            "--password",
            "from-b",
            "--if-revision",
            &now,
        ],
    )
    .success();
    run(&a, &["sync"]).success();
    assert_eq!(field(&a, "Router", "password"), "from-b");
}
