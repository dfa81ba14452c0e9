//! Value store cases, migrations on reopen, and durability across a restart.

use coffer_proto::UserId;
use coffer_store::{
    AuditVerdict, DataKeyId, MainStore, NewUser, StoreError, ValuePointer, ValueStore,
};
use sqlx::{AnyConnection, Connection as _};

use super::{Env, credentials, ev};

pub(crate) async fn values(env: Env) {
    let vs = env.value().await;
    let k1 = DataKeyId::random();
    let k2 = DataKeyId::random();
    let p = ValuePointer::random();
    vs.put(p, k1, b"ciphertext-1").await.unwrap();
    let got = vs.get(p).await.unwrap();
    assert_eq!(got.data_key_id, k1);
    assert_eq!(got.data, b"ciphertext-1");
    assert!(matches!(
        vs.put(p, k2, b"other").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(vs.get(p).await.unwrap().data, b"ciphertext-1");
    assert!(matches!(
        vs.get(ValuePointer::random()).await,
        Err(StoreError::NotFound)
    ));

    // Empty and large values round-trip.
    let empty = ValuePointer::random();
    vs.put(empty, k1, b"").await.unwrap();
    assert!(vs.get(empty).await.unwrap().data.is_empty());
    let big = ValuePointer::random();
    let blob: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    vs.put(big, k2, &blob).await.unwrap();
    assert_eq!(vs.get(big).await.unwrap().data, blob);

    // Many at once: every stored one (more than one query's worth), none of the missing.
    let k3 = DataKeyId::random();
    let mut many = vec![p, empty, big, ValuePointer::random()];
    for i in 0..(coffer_store::GET_MANY_MAX + 3) {
        let q = ValuePointer::random();
        vs.put(q, k3, format!("v{i}").as_bytes()).await.unwrap();
        many.push(q);
    }
    let got = vs.get_many(&many).await.unwrap();
    assert_eq!(got.len(), many.len() - 1);
    assert!(!got.contains_key(&many[3]));
    assert_eq!(got[&p].data, b"ciphertext-1");
    assert_eq!(got[&big].data, blob);
    assert_eq!(got[&many[4]].data, b"v0");
    assert_eq!(got[many.last().unwrap()].data_key_id, k3);
    assert!(vs.get_many(&[]).await.unwrap().is_empty());

    // A batch put: more than one statement's worth in one transaction, all or none.
    let k4 = DataKeyId::random();
    let n = coffer_store::PUT_MANY_ROWS * 2 + 7;
    let bodies: Vec<Vec<u8>> = (0..n).map(|i| format!("batch-{i}").into_bytes()).collect();
    let batch: Vec<(ValuePointer, DataKeyId, &[u8])> = bodies
        .iter()
        .map(|b| (ValuePointer::random(), k4, b.as_slice()))
        .collect();
    vs.put_many(&batch).await.unwrap();
    let ptrs: Vec<ValuePointer> = batch.iter().map(|(p, _, _)| *p).collect();
    let got = vs.get_many(&ptrs).await.unwrap();
    assert_eq!(got.len(), n);
    assert_eq!(got[&ptrs[0]].data, b"batch-0");
    assert_eq!(
        got[&ptrs[n - 1]].data,
        format!("batch-{}", n - 1).into_bytes()
    );
    assert_eq!(got[&ptrs[n - 1]].data_key_id, k4);
    assert_eq!(vs.count_by_key(k4).await.unwrap(), n as u64);
    // One pointer that already exists, in the last statement: nothing of the batch is kept.
    let k5 = DataKeyId::random();
    let mut bad: Vec<(ValuePointer, DataKeyId, &[u8])> = (0..coffer_store::PUT_MANY_ROWS + 5)
        .map(|_| (ValuePointer::random(), k5, b"fresh".as_slice()))
        .collect();
    bad.push((p, k5, b"clobber"));
    assert!(vs.put_many(&bad).await.is_err());
    assert_eq!(vs.count_by_key(k5).await.unwrap(), 0);
    assert_eq!(vs.get(p).await.unwrap().data, b"ciphertext-1");
    vs.put_many(&[]).await.unwrap();

    // Re-wrap: only from the expected key.
    assert!(matches!(
        vs.replace(p, k2, k1, b"nope").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(vs.get(p).await.unwrap().data, b"ciphertext-1");
    vs.replace(p, k1, k2, b"ciphertext-1-rewrapped")
        .await
        .unwrap();
    let got = vs.get(p).await.unwrap();
    assert_eq!(got.data_key_id, k2);
    assert_eq!(got.data, b"ciphertext-1-rewrapped");
    assert!(matches!(
        vs.replace(ValuePointer::random(), k1, k2, b"x").await,
        Err(StoreError::NotFound)
    ));

    // Listing by key, paged in pointer order, and counting.
    let mut under_k1: Vec<ValuePointer> = vec![empty];
    for i in 0..25u8 {
        let q = ValuePointer::random();
        vs.put(q, k1, &[i]).await.unwrap();
        under_k1.push(q);
    }
    under_k1.sort();
    assert_eq!(vs.count_by_key(k1).await.unwrap(), 26);
    assert_eq!(vs.count_by_key(k2).await.unwrap(), 2);
    assert_eq!(vs.count_by_key(DataKeyId::random()).await.unwrap(), 0);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = vs.pointers_by_key(k1, after, 10).await.unwrap();
        assert!(page.len() <= 10);
        let Some(last) = page.last() else { break };
        after = Some(*last);
        paged.extend(page);
    }
    assert_eq!(paged, under_k1);
    let mut k2_ptrs = vs.pointers_by_key(k2, None, 100).await.unwrap();
    k2_ptrs.sort();
    let mut expect = vec![p, big];
    expect.sort();
    assert_eq!(k2_ptrs, expect);

    vs.delete(p).await.unwrap();
    assert!(matches!(vs.get(p).await, Err(StoreError::NotFound)));
    assert!(matches!(vs.delete(p).await, Err(StoreError::NotFound)));
    assert_eq!(vs.count_by_key(k2).await.unwrap(), 1);
}

async fn migration_rows(url: &str, table: &str) -> i64 {
    let mut conn = AnyConnection::connect(url).await.unwrap();
    let sql = match table {
        "main" => "SELECT count(*) FROM _coffer_main_migrations",
        _ => "SELECT count(*) FROM _coffer_value_migrations",
    };
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    n
}

pub(crate) async fn migrations_and_durability(env: Env) {
    let id = UserId::new_random();
    let p = ValuePointer::random();
    let k = DataKeyId::random();
    {
        let main = env.main().await;
        let vs = env.value().await;
        main.create_user(
            &NewUser {
                id,
                email: "durable@example.com".into(),
                credentials: credentials("d"),
            },
            Some(&ev("user.create", id)),
        )
        .await
        .unwrap();
        vs.put(p, k, b"durable-value").await.unwrap();
        main.close().await;
        vs.close().await;
    }
    let main_migrations = migration_rows(&env.main_url, "main").await;
    let value_migrations = migration_rows(&env.value_url, "value").await;
    assert!(main_migrations >= 1 && value_migrations >= 1);

    // Reopening twice runs no migration again and finds everything.
    for _ in 0..2 {
        let main = env.main().await;
        let vs = env.value().await;
        assert_eq!(main.user(id).await.unwrap().email, "durable@example.com");
        assert_eq!(vs.get(p).await.unwrap().data, b"durable-value");
        assert!(matches!(
            main.verify_audit_chain().await.unwrap(),
            AuditVerdict::Intact { entries: 1, .. }
        ));
        main.close().await;
        vs.close().await;
    }
    assert_eq!(migration_rows(&env.main_url, "main").await, main_migrations);
    assert_eq!(
        migration_rows(&env.value_url, "value").await,
        value_migrations
    );

    // The two stores keep separate migration records, so even one shared database works.
    let shared_main = MainStore::open(&env.value_url).await.unwrap();
    let shared_values = ValueStore::open(&env.value_url).await.unwrap();
    assert_eq!(shared_values.get(p).await.unwrap().data, b"durable-value");
    assert!(matches!(
        shared_main.user(id).await,
        Err(StoreError::NotFound)
    ));
}
