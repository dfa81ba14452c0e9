//! Sharing cases: members, share with grants, unshare (grants dropped, rotation flagged), the
//! last-manager rule, pending replications, device revocation and workspace removal flags, and
//! rotation with its shape checks — each write all or nothing.

use coffer_proto::vault::{GrantRecipient, VaultRole};
use coffer_proto::{DeviceId, DeviceState, ItemId, Role, VaultId, WorkspaceId};
use coffer_store::{
    ItemWrite, MainStore, NewDevice, NewGrant, NewVault, NewWorkspace, RotatedItem, StoreError,
    ValuePointer, VaultRotation,
};

use super::vaults::new_vault;
use super::{Env, ev, make_user};

fn grant(recipient: GrantRecipient, epoch: u32) -> NewGrant {
    NewGrant {
        recipient,
        epoch,
        grant: format!("grant-{epoch}").into_bytes(),
        signer_key: [9; 32],
        signer_device: None,
    }
}

async fn trusted_device(main: &MainStore, user: coffer_proto::UserId) -> DeviceId {
    let id = DeviceId::new_random();
    main.create_device(
        &NewDevice {
            id,
            user_id: user,
            name: "d".into(),
            public_keys: b"keys".to_vec(),
            certificate: Some(b"cert".to_vec()),
            state: DeviceState::Trusted,
            server_share: b"share".to_vec(),
        },
        None,
    )
    .await
    .unwrap();
    id
}

async fn grants_of(
    main: &MainStore,
    vault: VaultId,
    device: DeviceId,
    user: coffer_proto::UserId,
) -> Vec<NewGrant> {
    main.vault_grants_for(vault, device, user).await.unwrap()
}

pub(crate) async fn sharing(env: Env) {
    let main = env.main().await;
    let owner = make_user(&main, "owner@sharing.test").await;
    let bob = make_user(&main, "bob@sharing.test").await;
    let ws = WorkspaceId::new_random();
    main.create_workspace(
        &NewWorkspace {
            id: ws,
            name: "sharing".into(),
            mfa_required: false,
        },
        owner.id,
        None,
    )
    .await
    .unwrap();
    main.add_member(ws, bob.id, Role::Member, None)
        .await
        .unwrap();
    let (vault, _) = new_vault(&main, owner.id).await;
    let bob_dev = trusted_device(&main, bob.id).await;

    // share: role and grants in one transaction; a grant of an epoch the vault lacks: nothing
    let bad = main
        .share_vault(
            vault,
            bob.id,
            VaultRole::Editor,
            None,
            &[
                grant(GrantRecipient::User(bob.id), 1),
                grant(GrantRecipient::Device(bob_dev), 2),
            ],
            Some(&ev("vault.share", vault)),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    assert!(
        main.vault_role(vault, bob.id).await.is_err(),
        "half-written share"
    );
    let pending = main.pending_replications(owner.id).await.unwrap();
    assert!(pending.iter().all(|p| p.user_id != bob.id));
    main.share_vault(
        vault,
        bob.id,
        VaultRole::Editor,
        Some(b"editor-statement"),
        &[
            grant(GrantRecipient::User(bob.id), 1),
            grant(GrantRecipient::Device(bob_dev), 1),
        ],
        Some(&ev("vault.share", vault)),
    )
    .await
    .unwrap();
    assert_eq!(
        main.vault_role(vault, bob.id).await.unwrap(),
        VaultRole::Editor
    );
    assert_eq!(grants_of(&main, vault, bob_dev, bob.id).await.len(), 2);
    let members = main.vault_members(vault).await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].role, VaultRole::Manager, "managers first");
    assert_eq!(
        members[1].role_statement.as_deref(),
        Some(&b"editor-statement"[..])
    );
    // re-sharing replaces grants (same recipient and epoch), changes the role and statement
    main.share_vault(
        vault,
        bob.id,
        VaultRole::Viewer,
        Some(b"viewer-statement"),
        &[grant(GrantRecipient::User(bob.id), 1)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        main.vault_role(vault, bob.id).await.unwrap(),
        VaultRole::Viewer
    );
    assert_eq!(
        main.vault_members(vault).await.unwrap()[1]
            .role_statement
            .as_deref(),
        Some(&b"viewer-statement"[..])
    );
    assert_eq!(grants_of(&main, vault, bob_dev, bob.id).await.len(), 2);

    // pending replications: a second trusted device of bob lacks the current key
    let bob_dev2 = trusted_device(&main, bob.id).await;
    let pending = main.pending_replications(owner.id).await.unwrap();
    let mine: Vec<_> = pending.iter().filter(|p| p.vault_id == vault).collect();
    assert_eq!(mine.len(), 1, "{pending:?}");
    assert_eq!(mine[0].device_id, Some(bob_dev2));
    assert_eq!(mine[0].certificate.as_deref(), Some(&b"cert"[..]));
    main.add_vault_grants(vault, &[grant(GrantRecipient::Device(bob_dev2), 1)], None)
        .await
        .unwrap();
    assert!(
        main.pending_replications(bob.id)
            .await
            .unwrap()
            .iter()
            .all(|p| p.vault_id != vault)
    );

    // the last manager cannot leave
    let r = main.unshare_vault(vault, owner.id, None).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(
        main.vault_role(vault, owner.id).await.unwrap(),
        VaultRole::Manager
    );

    // unshare: membership and every grant to bob or his devices gone, rotation flagged
    assert!(!main.vault(vault).await.unwrap().rotation_due);
    main.unshare_vault(vault, bob.id, Some(&ev("vault.unshare", vault)))
        .await
        .unwrap();
    assert!(main.vault_role(vault, bob.id).await.is_err());
    assert!(grants_of(&main, vault, bob_dev, bob.id).await.is_empty());
    assert!(grants_of(&main, vault, bob_dev2, bob.id).await.is_empty());
    assert!(main.vault(vault).await.unwrap().rotation_due);
    let r = main.unshare_vault(vault, bob.id, None).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    // rotation: shape checks, then all or nothing
    let item = ItemId::new_random();
    main.write_item(
        &ItemWrite {
            vault,
            item,
            base_counter: 0,
            base_revision: 0,
            revision: 1,
            epoch: 1,
            value: Some(ValuePointer::random()),
            manifest: b"manifest-1".to_vec(),
            manifest_signer: None,
            keep_revisions: 5,
        },
        None,
    )
    .await
    .unwrap();
    let record = coffer_proto::vault::VAULT_RECORD_ITEM;
    let rot = |epoch: u32, base_counter: u64, items: Vec<RotatedItem>| VaultRotation {
        vault,
        base_counter,
        epoch,
        manifest: b"manifest-2".to_vec(),
        manifest_signer: None,
        grants: vec![grant(GrantRecipient::User(owner.id), epoch)],
        items,
    };
    let both = vec![
        RotatedItem {
            item,
            base_revision: 1,
            value: ValuePointer::random(),
        },
        RotatedItem {
            item: record,
            base_revision: 1,
            value: ValuePointer::random(),
        },
    ];
    let r = main.rotate_vault(&rot(3, 1, both.clone()), None).await;
    assert!(
        matches!(r, Err(StoreError::Invalid(_))),
        "epoch skip: {r:?}"
    );
    let r = main.rotate_vault(&rot(2, 0, both.clone()), None).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "stale counter: {r:?}"
    );
    let r = main
        .rotate_vault(&rot(2, 1, both[..1].to_vec()), None)
        .await;
    assert!(
        matches!(r, Err(StoreError::Invalid(_))),
        "an item left behind: {r:?}"
    );
    let mut stale = both.clone();
    stale[0].base_revision = 7;
    let r = main.rotate_vault(&rot(2, 1, stale), None).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "moved item: {r:?}"
    );
    let v = main.vault(vault).await.unwrap();
    assert_eq!(
        (v.epoch, v.counter),
        (1, 1),
        "a refused rotation changed the vault"
    );
    let counter = main
        .rotate_vault(&rot(2, 1, both.clone()), Some(&ev("vault.rotate", vault)))
        .await
        .unwrap();
    assert_eq!(counter, 2);
    let v = main.vault(vault).await.unwrap();
    assert_eq!((v.epoch, v.counter, v.rotation_due), (2, 2, false));
    let row = main.item(vault, item).await.unwrap();
    assert_eq!((row.revision, row.epoch, row.counter), (2, 2, 2));
    assert_eq!(row.value, Some(both[0].value));
    assert_eq!(main.item_revisions(vault, item).await.unwrap().len(), 2);

    // revoking a device of a member flags the vault again; removing a workspace member drops
    // them from the workspace's vaults
    main.share_vault(vault, bob.id, VaultRole::Viewer, None, &[], None)
        .await
        .unwrap();
    main.revoke_device(bob_dev, None).await.unwrap();
    assert!(main.vault(vault).await.unwrap().rotation_due);
    // the vault is personal: removing bob from the workspace leaves it; a workspace vault
    // loses him, with his grants, and is flagged
    let wsv = VaultId::new_random();
    main.create_vault(
        &NewVault {
            id: wsv,
            workspace_id: Some(ws),
            owner: owner.id,
            epoch: 1,
            manifest: b"m0".to_vec(),
            manifest_signer: None,
            record: ValuePointer::random(),
            record_epoch: 1,
            grants: vec![grant(GrantRecipient::User(owner.id), 1)],
            role_statement: Some(b"root-statement".to_vec()),
        },
        None,
    )
    .await
    .unwrap();
    main.share_vault(
        wsv,
        bob.id,
        VaultRole::Editor,
        None,
        &[grant(GrantRecipient::Device(bob_dev2), 1)],
        None,
    )
    .await
    .unwrap();
    // the creator's root statement and nothing for a share without one, as the sync reads them
    let mut snap = main.vault_snapshot().await.unwrap();
    assert_eq!(
        snap.role_statements(wsv).await.unwrap(),
        vec![(owner.id, b"root-statement".to_vec())]
    );
    snap.finish().await.unwrap();
    main.remove_member(ws, bob.id, None).await.unwrap();
    assert!(main.vault_role(vault, bob.id).await.is_ok());
    assert!(main.vault_role(wsv, bob.id).await.is_err());
    assert!(grants_of(&main, wsv, bob_dev2, bob.id).await.is_empty());
    assert!(main.vault(wsv).await.unwrap().rotation_due);
}

/// Items shared alone (protocol.md §21): a share carries the item's current epoch (else
/// `Conflict`, nothing written), a repeated recipient is `Invalid` and keeps the share before
/// it, the recipient's list serves the item's current state with its grants, and unsharing
/// flags the vault for rotation.
pub(crate) async fn item_shares(env: Env) {
    let main = env.main().await;
    let owner = make_user(&main, "owner@items.test").await;
    let bob = make_user(&main, "bob@items.test").await;
    let (vault, _) = new_vault(&main, owner.id).await;
    let item = ItemId::new_random();
    let value = ValuePointer::random();
    main.write_item(
        &ItemWrite {
            vault,
            item,
            base_counter: 0,
            base_revision: 0,
            revision: 1,
            epoch: 1,
            value: Some(value),
            manifest: b"manifest-1".to_vec(),
            manifest_signer: None,
            keep_revisions: 5,
        },
        None,
    )
    .await
    .unwrap();
    let bob_dev = trusted_device(&main, bob.id).await;

    let r = main
        .share_item(
            vault,
            item,
            bob.id,
            &[grant(GrantRecipient::User(bob.id), 2)],
            owner.id,
            None,
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert!(main.items_shared_with(bob.id).await.unwrap().is_empty());
    let r = main
        .share_item(
            vault,
            ItemId::new_random(),
            bob.id,
            &[grant(GrantRecipient::User(bob.id), 1)],
            owner.id,
            None,
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    main.share_item(
        vault,
        item,
        bob.id,
        &[
            grant(GrantRecipient::User(bob.id), 1),
            grant(GrantRecipient::Device(bob_dev), 1),
        ],
        owner.id,
        Some(&ev("item.share", item)),
    )
    .await
    .unwrap();
    let r = main
        .share_item(
            vault,
            item,
            bob.id,
            &[
                grant(GrantRecipient::User(bob.id), 1),
                grant(GrantRecipient::User(bob.id), 1),
            ],
            owner.id,
            None,
        )
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    let mine = main.items_shared_with(bob.id).await.unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].item.item_id, item);
    assert_eq!(mine[0].item.value, Some(value));
    assert_eq!(
        mine[0].grants.len(),
        2,
        "the failed re-share kept the share"
    );
    assert!(main.items_shared_with(owner.id).await.unwrap().is_empty());
    assert_eq!(
        main.item_shares_of_vault(vault).await.unwrap(),
        vec![(item, bob.id)]
    );

    assert!(!main.vault(vault).await.unwrap().rotation_due);
    main.unshare_item(vault, item, bob.id, Some(&ev("item.unshare", item)))
        .await
        .unwrap();
    assert!(main.vault(vault).await.unwrap().rotation_due);
    assert!(main.items_shared_with(bob.id).await.unwrap().is_empty());
    let r = main.unshare_item(vault, item, bob.id, None).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

/// The grant mailbox (protocol.md §18.3a): only the addressed device's grants are acknowledged,
/// only acknowledged device grants older than the cut-off are emptied, identity grants never;
/// an emptied grant is not served and its device is not listed for replication.
pub(crate) async fn grant_mailbox(env: Env) {
    let main = env.main().await;
    let owner = make_user(&main, "owner@mailbox.test").await;
    let (vault, _) = new_vault(&main, owner.id).await;
    let dev = trusted_device(&main, owner.id).await;
    let other = trusted_device(&main, owner.id).await;
    main.add_vault_grants(
        vault,
        &[
            grant(GrantRecipient::Device(dev), 1),
            grant(GrantRecipient::Device(other), 1),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        main.ack_device_grants(dev, &[(vault, 1), (vault, 7)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        main.ack_device_grants(dev, &[(vault, 1)]).await.unwrap(),
        0,
        "once"
    );
    // a cut-off before the acknowledgement empties nothing
    assert_eq!(main.purge_acked_device_grants(0).await.unwrap(), 0);
    assert_eq!(
        main.purge_acked_device_grants(i64::MAX / 2).await.unwrap(),
        1,
        "only the acknowledged device grant"
    );
    let served = grants_of(&main, vault, dev, owner.id).await;
    assert!(
        served
            .iter()
            .all(|g| g.recipient != GrantRecipient::Device(dev)),
        "an emptied grant is not served: {served:?}"
    );
    assert!(
        served
            .iter()
            .any(|g| g.recipient == GrantRecipient::User(owner.id)),
        "the identity grant stays"
    );
    assert_eq!(grants_of(&main, vault, other, owner.id).await.len(), 2);
    let pending = main.pending_replications(owner.id).await.unwrap();
    assert!(
        pending.iter().all(|p| p.device_id != Some(dev)),
        "{pending:?}"
    );
    // a re-issued grant is new mail
    main.add_vault_grants(vault, &[grant(GrantRecipient::Device(dev), 1)], None)
        .await
        .unwrap();
    assert_eq!(grants_of(&main, vault, dev, owner.id).await.len(), 2);
    assert_eq!(main.ack_device_grants(dev, &[(vault, 1)]).await.unwrap(), 1);
}

/// A rotation larger than one multi-row statement: every item moves to the new epoch with its
/// new value and one more revision row, and a rotation refused on its last item writes nothing.
pub(crate) async fn big_rotation(env: Env) {
    let main = env.main().await;
    let owner = make_user(&main, "owner@big.test").await;
    let (vault, _) = new_vault(&main, owner.id).await;
    let n: u64 = 250;
    let mut items = Vec::new();
    for i in 0..n {
        let item = ItemId::new_random();
        main.write_item(
            &ItemWrite {
                vault,
                item,
                base_counter: i,
                base_revision: 0,
                revision: 1,
                epoch: 1,
                value: Some(ValuePointer::random()),
                manifest: format!("m{i}").into_bytes(),
                manifest_signer: None,
                keep_revisions: 5,
            },
            None,
        )
        .await
        .unwrap();
        items.push(item);
    }
    items.push(coffer_proto::vault::VAULT_RECORD_ITEM);
    let rotated: Vec<RotatedItem> = items
        .iter()
        .map(|item| RotatedItem {
            item: *item,
            base_revision: 1,
            value: ValuePointer::random(),
        })
        .collect();
    let rot = |items: Vec<RotatedItem>| VaultRotation {
        vault,
        base_counter: n,
        epoch: 2,
        manifest: b"rotated".to_vec(),
        manifest_signer: None,
        grants: vec![grant(GrantRecipient::User(owner.id), 2)],
        items,
    };
    let mut late = rotated.clone();
    if let Some(last) = late.last_mut() {
        last.base_revision = 9;
    }
    let r = main.rotate_vault(&rot(late), None).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let first = main.item(vault, items[0]).await.unwrap();
    assert_eq!(
        (first.revision, first.epoch),
        (1, 1),
        "a refused rotation wrote"
    );

    let counter = main
        .rotate_vault(&rot(rotated.clone()), None)
        .await
        .unwrap();
    assert_eq!(counter, n + 1);
    for r in &rotated {
        let row = main.item(vault, r.item).await.unwrap();
        assert_eq!(
            (row.revision, row.epoch, row.counter, row.value),
            (2, 2, n + 1, Some(r.value)),
            "item {}",
            r.item
        );
    }
    let history = main
        .item_revisions(vault, items[n as usize - 1])
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    let v = main.vault(vault).await.unwrap();
    assert_eq!((v.epoch, v.counter), (2, n + 1));
}
