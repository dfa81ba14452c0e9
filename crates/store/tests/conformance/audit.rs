//! Audit log cases: contents and paging, concurrent appends, tampering.

use coffer_proto::{DeviceId, UserId, WorkspaceId};
use coffer_store::{AuditBreak, AuditEvent, AuditVerdict, Backend, MainStore, NewUser};
use sqlx::{AnyConnection, Connection as _, Executor as _};

use super::{Env, credentials, ev, head};

async fn raw(env: &Env) -> AnyConnection {
    AnyConnection::connect(&env.main_url).await.unwrap()
}

/// Drops the append-only triggers, as someone with direct database access could.
async fn drop_guards(main: &MainStore, conn: &mut AnyConnection) {
    match main.backend() {
        Backend::Sqlite => {
            conn.execute("DROP TRIGGER audit_log_no_update")
                .await
                .unwrap();
            conn.execute("DROP TRIGGER audit_log_no_delete")
                .await
                .unwrap();
        }
        Backend::Postgres => {
            conn.execute("DROP TRIGGER audit_log_no_update ON audit_log")
                .await
                .unwrap();
        }
    }
}

async fn fill(main: &MainStore, n: u64) {
    for i in 0..n {
        main.append_audit(&ev("test.event", i).details(serde_json::json!({ "i": i })))
            .await
            .unwrap();
    }
}

fn broken(v: AuditVerdict) -> (u64, AuditBreak) {
    match v {
        AuditVerdict::Broken { seq, reason } => (seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

pub(crate) async fn basics(env: Env) {
    let main = env.main().await;
    assert_eq!(
        main.verify_audit_chain().await.unwrap(),
        AuditVerdict::Intact {
            entries: 0,
            head_hash: [0; 32]
        }
    );
    let ws = WorkspaceId::new_random();
    let user = UserId::new_random();
    let device = DeviceId::new_random();
    let first = main
        .append_audit(
            &AuditEvent::new("login.failed", "user:someone")
                .workspace(ws)
                .actor(user, Some(device))
                .details(serde_json::json!({ "reason": "bad password", "attempt": 3 }))
                .remote_addr("192.0.2.7"),
        )
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, [0; 32]);
    assert_eq!(first.hash, first.computed_hash());
    let second = main.append_audit(&ev("export", "vault:x")).await.unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(second.details, "{}");
    assert_eq!(second.workspace_id, None);

    let listed = main.list_audit(None, 0, 100).await.unwrap();
    assert_eq!(listed, vec![first.clone(), second.clone()]);
    assert_eq!(listed[0].workspace_id, Some(ws));
    assert_eq!(listed[0].actor_user_id, Some(user));
    assert_eq!(listed[0].actor_device_id, Some(device));
    assert_eq!(listed[0].remote_addr.as_deref(), Some("192.0.2.7"));
    let details: serde_json::Value = serde_json::from_str(&listed[0].details).unwrap();
    assert_eq!(details["attempt"], 3);

    // Filters and paging.
    fill(&main, 8).await;
    main.append_audit(&ev("ws.event", "x").workspace(ws))
        .await
        .unwrap();
    let of_ws = main.list_audit(Some(ws), 0, 100).await.unwrap();
    assert_eq!(of_ws.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 11]);
    assert!(
        main.list_audit(Some(WorkspaceId::new_random()), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let page = main.list_audit(None, 4, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    assert!(main.list_audit(None, 11, 10).await.unwrap().is_empty());

    let (head_seq, head_hash) = main.audit_head().await.unwrap();
    assert_eq!(head_seq, 11);
    assert_eq!(
        main.verify_audit_chain().await.unwrap(),
        AuditVerdict::Intact {
            entries: 11,
            head_hash
        }
    );
}

pub(crate) async fn concurrent_appends(env: Env) {
    let main = env.main().await;
    const TASKS: u64 = 16;
    const EACH: u64 = 20;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let main = main.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                if i % 2 == 0 {
                    main.append_audit(&ev("concurrent.append", format!("{t}/{i}")))
                        .await
                        .unwrap();
                } else {
                    let id = UserId::new_random();
                    main.create_user(
                        &NewUser {
                            id,
                            email: format!("u{t}-{i}@example.com"),
                            credentials: credentials("c"),
                        },
                        Some(&ev("user.create", id)),
                    )
                    .await
                    .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = TASKS * EACH;
    assert_eq!(head(&main).await, total);
    assert!(matches!(
        main.verify_audit_chain().await.unwrap(),
        AuditVerdict::Intact { entries, .. } if entries == total
    ));
    // Gapless: every seq from 1 to total, once, each linked to the one before.
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = main.list_audit(None, after, 64).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let creations = all.iter().filter(|e| e.action == "user.create").count() as u64;
    assert_eq!(creations, TASKS * EACH / 2);
    assert_eq!(main.count_users().await.unwrap(), creations);
}

pub(crate) async fn tampered_field(env: Env) {
    let main = env.main().await;
    fill(&main, 10).await;
    let mut conn = raw(&env).await;

    // The table refuses edits and deletions outright.
    assert!(
        conn.execute("UPDATE audit_log SET action = 'x' WHERE seq = 4")
            .await
            .is_err()
    );
    assert!(
        conn.execute("DELETE FROM audit_log WHERE seq = 4")
            .await
            .is_err()
    );
    assert!(matches!(
        main.verify_audit_chain().await.unwrap(),
        AuditVerdict::Intact { .. }
    ));

    drop_guards(&main, &mut conn).await;

    // Row 8 edited and re-hashed consistently: the link from 8 to 9 breaks.
    let mut e8 = main.list_audit(None, 7, 1).await.unwrap().remove(0);
    assert_eq!(e8.seq, 8);
    e8.details = r#"{"i":"forged"}"#.into();
    let forged_hash = e8.computed_hash();
    sqlx::query("UPDATE audit_log SET details = $1, hash = $2 WHERE seq = 8")
        .bind(e8.details.clone())
        .bind(forged_hash.to_vec())
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        broken(main.verify_audit_chain().await.unwrap()),
        (9, AuditBreak::PrevHashMismatch)
    );

    // Row 4's action edited: the first broken link is now 4.
    conn.execute("UPDATE audit_log SET action = 'test.evenT' WHERE seq = 4")
        .await
        .unwrap();
    assert_eq!(
        broken(main.verify_audit_chain().await.unwrap()),
        (4, AuditBreak::HashMismatch)
    );

    // A time edit at row 2 is caught too.
    conn.execute("UPDATE audit_log SET at = at + 1 WHERE seq = 2")
        .await
        .unwrap();
    assert_eq!(
        broken(main.verify_audit_chain().await.unwrap()),
        (2, AuditBreak::HashMismatch)
    );
}

pub(crate) async fn deleted_rows(env: Env) {
    let main = env.main().await;
    fill(&main, 10).await;
    let mut conn = raw(&env).await;
    drop_guards(&main, &mut conn).await;

    // A head that does not match the last entry.
    let (_, real) = main.audit_head().await.unwrap();
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(vec![0xaa_u8; 32])
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        broken(main.verify_audit_chain().await.unwrap()),
        (10, AuditBreak::HeadMismatch)
    );
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(real.to_vec())
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        main.verify_audit_chain().await.unwrap(),
        AuditVerdict::Intact { .. }
    ));

    // The last entry removed: the log is shorter than its head.
    conn.execute("DELETE FROM audit_log WHERE seq = 10")
        .await
        .unwrap();
    assert_eq!(
        broken(main.verify_audit_chain().await.unwrap()),
        (10, AuditBreak::Missing)
    );

    // An entry in the middle removed.
    conn.execute("DELETE FROM audit_log WHERE seq = 6")
        .await
        .unwrap();
    assert_eq!(
        broken(main.verify_audit_chain().await.unwrap()),
        (6, AuditBreak::Missing)
    );
}
