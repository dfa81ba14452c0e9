//! SIGKILL during a burst of concurrent writes: a child process (this test binary again,
//! running its ignored `crash_writer_child` test) writes from several tasks and prints an
//! `ack` line after each acknowledged write; the parent kills it with SIGKILL mid-burst, then
//! reopens the stores and checks that every acknowledged write is there and the audit chain
//! verifies.

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use coffer_proto::UserId;
use coffer_store::{AuditVerdict, DataKeyId, MainStore, NewUser, ValuePointer, ValueStore};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{Env, credentials, ev};

const ACKS_BEFORE_KILL: usize = 120;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The child: writes until killed (or for 60 s). Does nothing unless started by the parent.
pub(crate) async fn crash_child_main() {
    let (Ok(main_url), Ok(value_url)) = (
        std::env::var("COFFER_CRASH_MAIN_URL"),
        std::env::var("COFFER_CRASH_VALUE_URL"),
    ) else {
        return;
    };
    let main = MainStore::open(&main_url).await.unwrap();
    let values = ValueStore::open(&value_url).await.unwrap();
    let key = DataKeyId::from_bytes([7; 16]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for w in 0..6u8 {
        let (main, values) = (main.clone(), values.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u32;
            while Instant::now() < deadline {
                let id = UserId::new_random();
                main.create_user(
                    &NewUser {
                        id,
                        email: format!("w{w}-{i}@example.com"),
                        credentials: credentials("crash"),
                    },
                    Some(&ev("user.create", id)),
                )
                .await
                .unwrap();
                say(&format!("ack user {id}"));
                let p = ValuePointer::random();
                values.put(p, key, &[w; 64]).await.unwrap();
                say(&format!("ack value {p}"));
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

pub(crate) async fn sigkill(env: Env) {
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .args([
            "crash_writer_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("COFFER_CRASH_MAIN_URL", &env.main_url)
        .env("COFFER_CRASH_VALUE_URL", &env.value_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut users = Vec::new();
    let mut values = Vec::new();
    let mut record = |line: &str| {
        if let Some(id) = line.strip_prefix("ack user ") {
            users.push(id.parse::<UserId>().unwrap());
        } else if let Some(p) = line.strip_prefix("ack value ") {
            values.push(ValuePointer::from_hex(p).unwrap());
        }
    };
    let until = Instant::now() + Duration::from_secs(120);
    let mut acks = 0;
    while acks < ACKS_BEFORE_KILL {
        let left = until.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, lines.next_line())
            .await
            .expect("the child wrote too slowly")
            .unwrap()
            .expect("the child ended before it was killed");
        if line.starts_with("ack ") {
            acks += 1;
        }
        record(&line);
    }
    // SIGKILL while all writers are busy.
    child.start_kill().unwrap();
    while let Some(line) = lines.next_line().await.unwrap() {
        record(&line);
    }
    let status = child.wait().await.unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was not killed: {status:?}"
    );
    assert!(users.len() + values.len() >= ACKS_BEFORE_KILL);

    let main = env.main().await;
    let vs = env.value().await;
    for id in &users {
        main.user(*id)
            .await
            .unwrap_or_else(|e| panic!("acknowledged user {id} lost: {e}"));
    }
    for p in &values {
        assert_eq!(
            vs.get(*p).await.unwrap().data.len(),
            64,
            "acknowledged value {p} lost"
        );
    }
    // Every user creation and its audit event were committed together, or not at all.
    let n_users = main.count_users().await.unwrap();
    assert!(n_users >= users.len() as u64);
    match main.verify_audit_chain().await.unwrap() {
        AuditVerdict::Intact { entries, .. } => assert_eq!(entries, n_users),
        broken => panic!("audit chain broken after SIGKILL: {broken:?}"),
    }
}
