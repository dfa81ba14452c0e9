//! Local vault cases: create, list, item writes with both conflict kinds, tombstones, revision
//! pruning, paged item reads, snapshots, attachments, vault deletion, and blob segments.

use coffer_proto::vault::{GrantRecipient, VAULT_RECORD_ITEM, VaultRole};
use coffer_proto::{DeviceId, ItemId, VaultId};
use coffer_store::{
    Attachment, DataKeyId, ItemSelection, ItemWrite, MainStore, NewGrant, NewVault, StoreError,
    ValuePointer,
};

use super::{Env, ev, head, make_user};

fn grant(recipient: GrantRecipient) -> NewGrant {
    NewGrant {
        recipient,
        epoch: 1,
        grant: b"grant-bytes".to_vec(),
        signer_key: [7; 32],
        signer_device: None,
    }
}

fn write(vault: VaultId, item: ItemId, base_counter: u64, base_revision: u64) -> ItemWrite {
    ItemWrite {
        vault,
        item,
        base_counter,
        base_revision,
        revision: base_revision + 1,
        epoch: 1,
        value: Some(ValuePointer::random()),
        manifest: format!("manifest-{}", base_counter + 1).into_bytes(),
        manifest_signer: None,
        keep_revisions: 3,
    }
}

pub(crate) async fn new_vault(
    main: &MainStore,
    owner: coffer_proto::UserId,
) -> (VaultId, ValuePointer) {
    let id = VaultId::new_random();
    let record = ValuePointer::random();
    let device = DeviceId::new_random();
    main.create_vault(
        &NewVault {
            id,
            workspace_id: None,
            owner,
            epoch: 1,
            manifest: b"manifest-0".to_vec(),
            manifest_signer: Some(device),
            record,
            record_epoch: 1,
            grants: vec![
                grant(GrantRecipient::Device(device)),
                grant(GrantRecipient::User(owner)),
            ],
            role_statement: None,
        },
        Some(&ev("vault.create", id)),
    )
    .await
    .unwrap();
    (id, record)
}

fn conflict_message<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub(crate) async fn vaults_and_items(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "vera@example.com").await;
    let other = make_user(&main, "otto@example.com").await;
    let before = head(&main).await;
    let (v, record) = new_vault(&main, u.id).await;
    assert_eq!(head(&main).await, before + 1, "one audit event");

    // listing and roles
    let list = main.vaults_of_user(u.id).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].vault.id, v);
    assert_eq!(list[0].role, VaultRole::Manager);
    assert_eq!(list[0].vault.counter, 0);
    assert_eq!(list[0].vault.manifest, b"manifest-0");
    assert!(main.vaults_of_user(other.id).await.unwrap().is_empty());
    assert_eq!(main.vault_role(v, u.id).await.unwrap(), VaultRole::Manager);
    assert!(matches!(
        main.vault_role(v, other.id).await,
        Err(StoreError::NotFound)
    ));
    main.set_vault_member(v, other.id, VaultRole::Viewer, None)
        .await
        .unwrap();
    assert_eq!(
        main.vault_role(v, other.id).await.unwrap(),
        VaultRole::Viewer
    );
    main.set_vault_member(v, other.id, VaultRole::Editor, None)
        .await
        .unwrap();
    assert_eq!(
        main.vault_role(v, other.id).await.unwrap(),
        VaultRole::Editor
    );
    assert!(matches!(
        main.set_vault_member(VaultId::new_random(), other.id, VaultRole::Viewer, None)
            .await,
        Err(StoreError::NotFound)
    ));
    let rec = main.item(v, VAULT_RECORD_ITEM).await.unwrap();
    assert_eq!((rec.revision, rec.counter, rec.deleted), (1, 0, false));
    assert_eq!(rec.value, Some(record));

    // the same id cannot be created twice
    let again = main
        .create_vault(
            &NewVault {
                id: v,
                workspace_id: None,
                owner: u.id,
                epoch: 1,
                manifest: vec![],
                manifest_signer: None,
                record: ValuePointer::random(),
                record_epoch: 1,
                grants: vec![],
                role_statement: None,
            },
            None,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));

    // grants addressed to a device or the user
    let device = list[0].vault.manifest_signer.unwrap();
    let g = main.vault_grants_for(v, device, u.id).await.unwrap();
    assert_eq!(g.len(), 2);
    let g = main
        .vault_grants_for(v, DeviceId::new_random(), other.id)
        .await
        .unwrap();
    assert!(g.is_empty());

    // a new item
    let item = ItemId::new_random();
    let w1 = write(v, item, 0, 0);
    let done = main
        .write_item(&w1, Some(&ev("item.write", item)))
        .await
        .unwrap();
    assert_eq!((done.counter, done.revision), (1, 1));
    assert!(done.pruned.is_empty());

    // vault conflict: nothing changes
    let seq = head(&main).await;
    let stale = write(v, item, 0, 1);
    assert_eq!(
        conflict_message(main.write_item(&stale, Some(&ev("item.write", item))).await),
        "vault changed since your last sync"
    );
    // item conflict
    let stale = write(v, item, 1, 0);
    assert_eq!(
        conflict_message(main.write_item(&stale, None).await),
        "item changed since your last sync (revision 1)"
    );
    assert_eq!(head(&main).await, seq, "no audit event for a refused write");
    assert_eq!(main.vault(v).await.unwrap().counter, 1);
    assert_eq!(main.item(v, item).await.unwrap().value, w1.value);

    // bad revision numbers and deletions are invalid
    let mut bad = write(v, item, 1, 1);
    bad.revision = 5;
    assert!(matches!(
        main.write_item(&bad, None).await,
        Err(StoreError::Invalid(_))
    ));
    let mut del_missing = write(v, ItemId::new_random(), 1, 0);
    del_missing.value = None;
    assert!(matches!(
        main.write_item(&del_missing, None).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad_epoch = write(v, item, 1, 1);
    bad_epoch.epoch = 2;
    assert!(matches!(
        main.write_item(&bad_epoch, None).await,
        Err(StoreError::Invalid(_))
    ));

    // edits beyond keep_revisions prune the oldest, returning their values
    let mut values = vec![w1.value.unwrap()];
    let mut counter = 1;
    for rev in 1..5 {
        let w = write(v, item, counter, rev);
        values.push(w.value.unwrap());
        let done = main.write_item(&w, None).await.unwrap();
        counter = done.counter;
        if rev >= 3 {
            assert_eq!(done.pruned, vec![values[(rev - 3) as usize]], "rev {rev}");
        } else {
            assert!(done.pruned.is_empty());
        }
    }
    let revs = main.item_revisions(v, item).await.unwrap();
    assert_eq!(
        revs.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![5, 4, 3]
    );
    assert_eq!(revs[0].value, Some(values[4]));
    assert_eq!(counter, 5);

    // delete: a tombstone with a revision of its own
    let mut del = write(v, item, 5, 5);
    del.value = None;
    let done = main.write_item(&del, None).await.unwrap();
    assert_eq!((done.counter, done.revision), (6, 6));
    let row = main.item(v, item).await.unwrap();
    assert!(row.deleted && row.value.is_none());
    let revs = main.item_revisions(v, item).await.unwrap();
    assert_eq!(revs[0].revision, 6);
    assert_eq!(revs[0].value, None);
    let mut del2 = write(v, item, 6, 6);
    del2.value = None;
    assert!(matches!(
        main.write_item(&del2, None).await,
        Err(StoreError::Invalid(_))
    ));
    // the tombstone blocks re-creation from revision 0
    assert_eq!(
        conflict_message(main.write_item(&write(v, item, 6, 0), None).await),
        "item changed since your last sync (revision 6)"
    );

    // paged reads: full (live only) and delta (tombstones included)
    let mut ids = Vec::new();
    let mut c = 6;
    for _ in 0..5 {
        let id = ItemId::new_random();
        c = main
            .write_item(&write(v, id, c, 0), None)
            .await
            .unwrap()
            .counter;
        ids.push(id);
    }
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = main
            .vault_items_page(v, ItemSelection::Live, after, 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| (r.counter, r.item_id));
        all.extend(page);
    }
    assert_eq!(all.len(), 6, "record + 5 live items, no tombstone");
    assert!(all.iter().all(|r| !r.deleted));
    let delta = main
        .vault_items_page(v, ItemSelection::ChangedAfter(5), None, 100)
        .await
        .unwrap();
    assert_eq!(delta.len(), 6, "tombstone + 5 new");
    assert!(delta[0].deleted && delta[0].item_id == item);
    let delta = main
        .vault_items_page(v, ItemSelection::ChangedAfter(c), None, 100)
        .await
        .unwrap();
    assert!(delta.is_empty());

    // a snapshot does not see a later write
    let mut snap = main.vault_snapshot().await.unwrap();
    let before = snap
        .items_page(v, ItemSelection::Live, None, 100)
        .await
        .unwrap();
    let late = ItemId::new_random();
    let main2 = main.clone();
    let writer =
        tokio::spawn(async move { main2.write_item(&write(v, late, c, 0), None).await.unwrap() });
    // SQLite: the writer waits for no reader (WAL); PostgreSQL: neither.
    let done = writer.await.unwrap();
    let after = snap
        .items_page(v, ItemSelection::Live, None, 100)
        .await
        .unwrap();
    assert_eq!(before, after, "the snapshot is stable");
    assert_eq!(snap.vaults_of_user(u.id).await.unwrap()[0].vault.counter, c);
    snap.finish().await.unwrap();
    assert_eq!(main.vault(v).await.unwrap().counter, done.counter);

    // attachments
    let att = uuid::Uuid::new_v4();
    let a = Attachment {
        vault: v,
        item: ids[0],
        attachment: att,
        blob_id: [1; 32],
        size: 10,
        segments: 1,
        created_at: 1,
    };
    assert_eq!(main.put_attachment(&a, None).await.unwrap(), None);
    let replaced = Attachment {
        blob_id: [2; 32],
        ..a
    };
    assert_eq!(
        main.put_attachment(&replaced, None).await.unwrap(),
        Some([1; 32])
    );
    assert_eq!(main.attachment(v, ids[0], att).await.unwrap(), replaced);
    let a2 = Attachment {
        attachment: uuid::Uuid::new_v4(),
        blob_id: [3; 32],
        ..a
    };
    main.put_attachment(&a2, None).await.unwrap();
    assert_eq!(
        main.delete_attachment(v, ids[0], att, None).await.unwrap(),
        [2; 32]
    );
    assert!(matches!(
        main.attachment(v, ids[0], att).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        main.delete_attachment(v, ids[0], att, None).await,
        Err(StoreError::NotFound)
    ));

    // delete the vault: everything it held is returned and gone
    let seq = head(&main).await;
    let remains = main
        .delete_vault(v, Some(&ev("vault.delete", v)))
        .await
        .unwrap();
    assert_eq!(head(&main).await, seq + 1);
    assert_eq!(remains.blobs, vec![[3; 32]]);
    assert!(remains.values.contains(&record));
    assert!(remains.values.contains(&values[4]));
    // record + 3 kept of `item` (the tombstone has none) + 5 + 1 items
    assert_eq!(remains.values.len(), 1 + 2 + 5 + 1, "{remains:?}");
    assert!(matches!(main.vault(v).await, Err(StoreError::NotFound)));
    assert!(main.vaults_of_user(u.id).await.unwrap().is_empty());
    assert!(main.vaults_of_user(other.id).await.unwrap().is_empty());
    assert!(matches!(
        main.delete_vault(v, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        main.write_item(&write(v, ItemId::new_random(), done.counter, 0), None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(main.item_revisions(v, item).await.unwrap().is_empty());
    assert!(matches!(
        main.put_attachment(&a, None).await,
        Err(StoreError::NotFound)
    ));
}

pub(crate) async fn concurrent_item_writes(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "cora@example.com").await;
    let (v, _) = new_vault(&main, u.id).await;
    // Eight writers race from the same base counter: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let m = main.clone();
        tasks.push(tokio::spawn(async move {
            m.write_item(&write(v, ItemId::new_random(), 0, 0), None)
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(m)) => assert_eq!(m, "vault changed since your last sync"),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(main.vault(v).await.unwrap().counter, 1);
}

pub(crate) async fn blob_segments(env: Env) {
    let vs = env.value().await;
    let k1 = DataKeyId::random();
    let k2 = DataKeyId::random();
    let blob = [9u8; 32];
    for seq in 0..3u64 {
        vs.put_segment(&blob, seq, k1, format!("seg-{seq}").as_bytes())
            .await
            .unwrap();
    }
    assert!(matches!(
        vs.put_segment(&blob, 1, k1, b"dup").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(vs.segment(&blob, 2).await.unwrap().data, b"seg-2");
    assert!(matches!(
        vs.segment(&blob, 3).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(vs.count_segments_by_key(k1).await.unwrap(), 3);
    let page = vs.segments_by_key(k1, None, 2).await.unwrap();
    assert_eq!(page, vec![(blob, 0), (blob, 1)]);
    let page = vs.segments_by_key(k1, Some((blob, 1)), 2).await.unwrap();
    assert_eq!(page, vec![(blob, 2)]);
    vs.replace_segment(&blob, 0, k1, k2, b"rewrapped")
        .await
        .unwrap();
    assert!(matches!(
        vs.replace_segment(&blob, 0, k1, k2, b"again").await,
        Err(StoreError::NotFound)
    ));
    let s = vs.segment(&blob, 0).await.unwrap();
    assert_eq!((s.data_key_id, s.data.as_slice()), (k2, &b"rewrapped"[..]));
    assert_eq!(vs.count_segments_by_key(k1).await.unwrap(), 2);
    assert_eq!(vs.delete_blob(&blob).await.unwrap(), 3);
    assert_eq!(vs.delete_blob(&blob).await.unwrap(), 0);
    assert!(format!("{s:?}").contains("9 bytes"));
    assert!(!format!("{s:?}").contains("rewrapped"));
}
