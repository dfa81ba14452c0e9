//! Recovery-key cases (protocol.md §19): create with grants (one audit event, one transaction),
//! read back by id and by user (never another user's), add grants of a new epoch (a repeated
//! epoch is a conflict and adds nothing), delete (returns the share pointer), and the recovery
//! keys of a deleted vault go with it (their share pointers among the remains).

use coffer_proto::{RecoveryId, VaultId};
use coffer_store::{NewRecoveryKey, RecoveryGrantRow, StoreError, ValuePointer};

use super::vaults::new_vault;
use super::{Env, ev, head, make_user};

fn rgrant(epoch: u32) -> RecoveryGrantRow {
    RecoveryGrantRow {
        epoch,
        grant: format!("recovery-grant-{epoch}").into_bytes(),
    }
}

fn new_key(vault: VaultId, user: coffer_proto::UserId) -> NewRecoveryKey {
    NewRecoveryKey {
        id: RecoveryId::new_random(),
        vault_id: vault,
        user_id: user,
        enrolment: b"enrolment-bytes".to_vec(),
        public_keys: vec![9; 64],
        server_share: ValuePointer::random(),
        grants: vec![rgrant(1)],
    }
}

/// Enrols a recovery key of `user` for `vault` (for other cases); its share pointer.
pub(crate) async fn enrol(
    main: &coffer_store::MainStore,
    vault: VaultId,
    user: coffer_proto::UserId,
) -> ValuePointer {
    let nk = new_key(vault, user);
    main.create_recovery_key(&nk, None).await.unwrap();
    nk.server_share
}

pub(crate) async fn recovery_keys(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "rita@example.com").await;
    let other = make_user(&main, "oscar@example.com").await;
    let (v, _) = new_vault(&main, u.id).await;

    // create: the key and its grant, with one audit event
    let before = head(&main).await;
    let nk = new_key(v, u.id);
    let k = main
        .create_recovery_key(&nk, Some(&ev("recovery.create", nk.id)))
        .await
        .unwrap();
    assert_eq!(head(&main).await, before + 1);
    assert_eq!(k.id, nk.id);
    assert_eq!(main.recovery_key(nk.id).await.unwrap(), k);
    assert_eq!(k.server_share, nk.server_share);
    assert_eq!(k.enrolment, b"enrolment-bytes");
    assert_eq!(k.public_keys, vec![9; 64]);
    assert_eq!(main.recovery_grants(nk.id).await.unwrap(), vec![rgrant(1)]);
    // Debug never shows the share pointer
    assert!(!format!("{k:?}").contains(&nk.server_share.to_string()));

    // by user (and vault); never another user's
    assert_eq!(
        main.recovery_keys_of_user(u.id, None).await.unwrap(),
        vec![k.clone()]
    );
    assert_eq!(
        main.recovery_keys_of_user(u.id, Some(v)).await.unwrap(),
        vec![k.clone()]
    );
    assert!(
        main.recovery_keys_of_user(u.id, Some(VaultId::new_random()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        main.recovery_keys_of_user(other.id, None)
            .await
            .unwrap()
            .is_empty()
    );

    // the same id again: conflict, nothing written (not even the audit event)
    let h = head(&main).await;
    let mut dup = new_key(v, u.id);
    dup.id = nk.id;
    dup.grants = vec![rgrant(1), rgrant(2)];
    assert!(matches!(
        main.create_recovery_key(&dup, Some(&ev("recovery.create", dup.id)))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(head(&main).await, h);
    assert_eq!(main.recovery_grants(nk.id).await.unwrap(), vec![rgrant(1)]);
    // a grant that fails (epoch repeated) rolls the whole key back
    let mut twice = new_key(v, u.id);
    twice.grants = vec![rgrant(1), rgrant(1)];
    assert!(main.create_recovery_key(&twice, None).await.is_err());
    assert!(matches!(
        main.recovery_key(twice.id).await,
        Err(StoreError::NotFound)
    ));
    // unknown vault, bad key length, epoch 0
    assert!(matches!(
        main.create_recovery_key(&new_key(VaultId::new_random(), u.id), None)
            .await,
        Err(StoreError::NotFound)
    ));
    let mut short = new_key(v, u.id);
    short.public_keys = vec![1; 10];
    assert!(matches!(
        main.create_recovery_key(&short, None).await,
        Err(StoreError::Invalid(_))
    ));
    let mut zero = new_key(v, u.id);
    zero.grants = vec![rgrant(0)];
    assert!(matches!(
        main.create_recovery_key(&zero, None).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        main.recovery_keys_of_user(u.id, None).await.unwrap().len(),
        1
    );

    // grants of a new epoch; a repeated epoch is a conflict and adds nothing
    main.add_recovery_grants(nk.id, &[rgrant(2)], Some(&ev("recovery.grants", nk.id)))
        .await
        .unwrap();
    assert_eq!(
        main.recovery_grants(nk.id).await.unwrap(),
        vec![rgrant(1), rgrant(2)]
    );
    let h = head(&main).await;
    assert!(matches!(
        main.add_recovery_grants(nk.id, &[rgrant(3), rgrant(2)], Some(&ev("x", nk.id)))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(head(&main).await, h);
    assert_eq!(main.recovery_grants(nk.id).await.unwrap().len(), 2);
    assert!(matches!(
        main.add_recovery_grants(RecoveryId::new_random(), &[rgrant(3)], None)
            .await,
        Err(StoreError::NotFound)
    ));

    // delete: the share pointer comes back, the grants go
    let second = new_key(v, u.id);
    main.create_recovery_key(&second, None).await.unwrap();
    let share = main
        .delete_recovery_key(nk.id, Some(&ev("recovery.delete", nk.id)))
        .await
        .unwrap();
    assert_eq!(share, nk.server_share);
    assert!(matches!(
        main.recovery_key(nk.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(main.recovery_grants(nk.id).await.unwrap().is_empty());
    assert!(matches!(
        main.delete_recovery_key(nk.id, None).await,
        Err(StoreError::NotFound)
    ));

    // deleting the vault removes its recovery keys; their shares are among the remains
    let remains = main.delete_vault(v, None).await.unwrap();
    assert!(remains.values.contains(&second.server_share));
    assert!(matches!(
        main.recovery_key(second.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(main.recovery_grants(second.id).await.unwrap().is_empty());
    assert!(
        main.recovery_keys_of_user(u.id, None)
            .await
            .unwrap()
            .is_empty()
    );
}
