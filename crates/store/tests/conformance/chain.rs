//! Device-chain cases (protocol.md §14.5, §14.6): the genesis link is stored with the account;
//! approvals and revocations append a link in the same transaction as the state change; a link
//! whose seq is not the next one is a conflict, one with a wrong previous hash, an untrusted
//! signer, the wrong operation or another device is invalid, and on every refusal nothing is
//! written (no link, no state change, no grant, no audit event). A device the chain trusts
//! cannot be revoked without a link. Endorsements are stored with their grants, replaced, read
//! back, and refused for a device that is not pending.

use coffer_crypto::chain::ChainLink;
use coffer_crypto::{KeyPair, PublicKeys};
use coffer_proto::vault::GrantRecipient;
use coffer_proto::{DeviceId, DeviceState, Role, UserId, WorkspaceId};
use coffer_store::{
    Credentials, DeviceEndorsementRow, MainStore, NewDevice, NewGrant, NewUser, NewWorkspace,
    StoreError,
};

use super::vaults::new_vault;
use super::{Env, ev, head};

fn device(user: UserId, keys: &PublicKeys, state: DeviceState) -> NewDevice {
    NewDevice {
        id: DeviceId::new_random(),
        user_id: user,
        name: "laptop".into(),
        public_keys: keys.to_bytes().to_vec(),
        certificate: Some(b"cert".to_vec()),
        state,
        server_share: b"share".to_vec(),
    }
}

fn new_user(email: &str, identity: &KeyPair) -> NewUser {
    NewUser {
        id: UserId::new_random(),
        email: email.into(),
        credentials: Credentials {
            opaque_record: b"opaque".to_vec(),
            account_key_bundle: b"bundle".to_vec(),
            identity_public_keys: identity.public().to_bytes().to_vec(),
            signed_account_state: b"state".to_vec(),
        },
    }
}

fn id16(d: DeviceId) -> [u8; 16] {
    *d.as_uuid().as_bytes()
}

fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>, needle: &str) {
    match r {
        Err(StoreError::Invalid(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected Invalid({needle}), got {other:?}"),
    }
}

fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "expected Conflict, got {r:?}"
    );
}

async fn links(main: &MainStore, user: UserId) -> Vec<ChainLink> {
    main.device_chain(user)
        .await
        .unwrap()
        .iter()
        .map(|b| ChainLink::from_bytes(b).unwrap())
        .collect()
}

pub(crate) async fn device_chain(env: Env) {
    let main = env.main().await;
    let identity = KeyPair::generate().unwrap();
    let (k1, k2, k3) = (
        KeyPair::generate().unwrap(),
        KeyPair::generate().unwrap(),
        KeyPair::generate().unwrap(),
    );
    let nu = new_user("chain@example.com", &identity);
    let d1 = device(nu.id, &k1.public(), DeviceState::Trusted);

    // A genesis that adds another device than the first one: nothing is written.
    let wrong = ChainLink::add(None, [1; 16], &k1.public(), 1, &identity).unwrap();
    invalid(
        main.register_account_chained(&nu, &d1, None, wrong.as_bytes(), None)
            .await,
        "adds another device",
    );
    assert!(matches!(main.user(nu.id).await, Err(StoreError::NotFound)));
    // A genesis signed by the device itself: refused.
    let self_signed = ChainLink::add(None, id16(d1.id), &k1.public(), 1, &k1).unwrap();
    invalid(
        main.register_account_chained(&nu, &d1, None, self_signed.as_bytes(), None)
            .await,
        "signer is not trusted",
    );
    assert!(matches!(main.user(nu.id).await, Err(StoreError::NotFound)));

    let l0 = ChainLink::add(None, id16(d1.id), &k1.public(), 1, &identity).unwrap();
    main.register_account_chained(
        &nu,
        &d1,
        None,
        l0.as_bytes(),
        Some(&ev("user.register", nu.id)),
    )
    .await
    .unwrap();
    assert_eq!(links(&main, nu.id).await, vec![l0.clone()]);

    // A pending second device, approved with link 1 signed by the first device.
    let d2 = device(nu.id, &k2.public(), DeviceState::Pending);
    main.create_device(&d2, None).await.unwrap();
    let (v, _) = new_vault(&main, nu.id).await;
    let g = NewGrant {
        recipient: GrantRecipient::Device(d2.id),
        epoch: 1,
        grant: b"approval-grant".to_vec(),
        signer_key: *k1.public().signing(),
        signer_device: Some(d1.id),
    };
    let before = head(&main).await;
    let refused = |r| async {
        invalid::<()>(r, "");
        assert_eq!(
            main.device(d2.id).await.unwrap().state,
            DeviceState::Pending
        );
        assert_eq!(links(&main, nu.id).await.len(), 1);
        assert_eq!(head(&main).await, before);
    };
    // bad seq (built on nothing: seq 0 again) → conflict, nothing written
    let stale = ChainLink::add(None, id16(d2.id), &k2.public(), 2, &identity).unwrap();
    conflict(
        main.approve_device_chained(
            d2.id,
            b"c2",
            stale.as_bytes(),
            &[(v, g.clone())],
            Some(&ev("device.approve", d2.id)),
        )
        .await,
    );
    assert_eq!(
        main.device(d2.id).await.unwrap().state,
        DeviceState::Pending
    );
    assert_eq!(links(&main, nu.id).await.len(), 1);
    assert_eq!(head(&main).await, before);
    // bad prev: seq 1 on top of another user's genesis
    let other_genesis = ChainLink::add(None, id16(d1.id), &k1.public(), 9, &identity).unwrap();
    let bad_prev = ChainLink::add(
        Some(&other_genesis),
        id16(d2.id),
        &k2.public(),
        2,
        &identity,
    )
    .unwrap();
    refused(
        main.approve_device_chained(d2.id, b"c2", bad_prev.as_bytes(), &[(v, g.clone())], None)
            .await,
    )
    .await;
    // bad signer: a key the chain never added
    let bad_signer = ChainLink::add(Some(&l0), id16(d2.id), &k2.public(), 2, &k3).unwrap();
    refused(
        main.approve_device_chained(d2.id, b"c2", bad_signer.as_bytes(), &[(v, g.clone())], None)
            .await,
    )
    .await;
    // a valid link that adds other keys, or revokes instead of adding
    let other_keys = ChainLink::add(Some(&l0), id16(d2.id), &k3.public(), 2, &identity).unwrap();
    refused(
        main.approve_device_chained(d2.id, b"c2", other_keys.as_bytes(), &[], None)
            .await,
    )
    .await;
    let revoke = ChainLink::revoke(Some(&l0), id16(d1.id), &k1.public(), 2, &identity).unwrap();
    refused(
        main.approve_device_chained(d2.id, b"c2", revoke.as_bytes(), &[], None)
            .await,
    )
    .await;
    invalid(
        main.approve_device_chained(d2.id, b"c2", b"not a link", &[], None)
            .await,
        "malformed",
    );
    assert!(
        main.vault_grants_for(v, d2.id, UserId::new_random())
            .await
            .unwrap()
            .is_empty()
    );

    let l1 = ChainLink::add(Some(&l0), id16(d2.id), &k2.public(), 2, &k1).unwrap();
    main.approve_device_chained(
        d2.id,
        b"c2",
        l1.as_bytes(),
        &[(v, g)],
        Some(&ev("device.approve", d2.id)),
    )
    .await
    .unwrap();
    assert_eq!(head(&main).await, before + 1);
    let d2row = main.device(d2.id).await.unwrap();
    assert_eq!(d2row.state, DeviceState::Trusted);
    assert_eq!(d2row.certificate.as_deref(), Some(&b"c2"[..]));
    assert!(
        main.vault_grants_for(v, d2.id, UserId::new_random())
            .await
            .unwrap()
            .iter()
            .any(|s| s.grant == b"approval-grant")
    );
    assert_eq!(links(&main, nu.id).await, vec![l0.clone(), l1.clone()]);
    // approving again: the device is not pending
    let again = ChainLink::add(Some(&l1), id16(d2.id), &k2.public(), 3, &identity).unwrap();
    conflict(
        main.approve_device_chained(d2.id, b"c2", again.as_bytes(), &[], None)
            .await,
    );

    // Revocation: a trusted device needs a link; the wrong device's link is refused.
    invalid(
        main.revoke_device_chained(d1.id, None, None).await,
        "chain trusts this device",
    );
    let wrong_dev = ChainLink::revoke(Some(&l1), id16(d2.id), &k2.public(), 3, &identity).unwrap();
    invalid(
        main.revoke_device_chained(d1.id, Some(wrong_dev.as_bytes()), None)
            .await,
        "revokes another device",
    );
    assert_eq!(
        main.device(d1.id).await.unwrap().state,
        DeviceState::Trusted
    );
    let l2 = ChainLink::revoke(Some(&l1), id16(d1.id), &k1.public(), 3, &k2).unwrap();
    main.revoke_device_chained(
        d1.id,
        Some(l2.as_bytes()),
        Some(&ev("device.revoke", d1.id)),
    )
    .await
    .unwrap();
    assert_eq!(
        main.device(d1.id).await.unwrap().state,
        DeviceState::Revoked
    );
    assert_eq!(
        links(&main, nu.id).await,
        vec![l0.clone(), l1.clone(), l2.clone()]
    );
    // The revoked device can no longer sign: a link by it is refused.
    let d3 = device(nu.id, &k3.public(), DeviceState::Pending);
    main.create_device(&d3, None).await.unwrap();
    let by_revoked = ChainLink::add(Some(&l2), id16(d3.id), &k3.public(), 4, &k1).unwrap();
    invalid(
        main.approve_device_chained(d3.id, b"c3", by_revoked.as_bytes(), &[], None)
            .await,
        "signer is not trusted",
    );
    // A pending device (never in the chain) is revoked without a link.
    main.revoke_device_chained(d3.id, None, None).await.unwrap();
    assert_eq!(
        main.device(d3.id).await.unwrap().state,
        DeviceState::Revoked
    );
    assert_eq!(links(&main, nu.id).await.len(), 3);
    // The snapshot reads the same chain.
    let mut snap = main.vault_snapshot().await.unwrap();
    assert_eq!(
        snap.device_chain(nu.id).await.unwrap(),
        main.device_chain(nu.id).await.unwrap()
    );
    snap.finish().await.unwrap();
    assert!(
        main.device_chain(UserId::new_random())
            .await
            .unwrap()
            .is_empty()
    );

    // Endorsements.
    let admin = super::make_user(&main, "admin@chain.test").await;
    let ws = WorkspaceId::new_random();
    main.create_workspace(
        &NewWorkspace {
            id: ws,
            name: "chain".into(),
            mfa_required: false,
        },
        admin.id,
        None,
    )
    .await
    .unwrap();
    main.add_member(ws, nu.id, Role::Member, None)
        .await
        .unwrap();
    let k4 = KeyPair::generate().unwrap();
    let d4 = device(nu.id, &k4.public(), DeviceState::Pending);
    main.create_device(&d4, None).await.unwrap();
    let row = DeviceEndorsementRow {
        device_id: d4.id,
        user_id: nu.id,
        workspace_id: ws,
        endorser_id: admin.id,
        endorsement: vec![5; 297],
        created_at: 0,
    };
    assert_eq!(main.device_endorsement(d4.id).await.unwrap(), None);
    let eg = NewGrant {
        recipient: GrantRecipient::Device(d4.id),
        epoch: 1,
        grant: b"endorsement-grant".to_vec(),
        signer_key: [3; 32],
        signer_device: None,
    };
    let before = head(&main).await;
    main.put_device_endorsement(&row, &[(v, eg)], Some(&ev("device.endorse", d4.id)))
        .await
        .unwrap();
    assert_eq!(head(&main).await, before + 1);
    let got = main.device_endorsement(d4.id).await.unwrap().unwrap();
    assert_eq!(
        (got.endorsement.clone(), got.workspace_id),
        (vec![5; 297], ws)
    );
    assert!(
        main.vault_grants_for(v, d4.id, UserId::new_random())
            .await
            .unwrap()
            .iter()
            .any(|s| s.grant == b"endorsement-grant")
    );
    // replaced by a newer one
    let newer = DeviceEndorsementRow {
        endorsement: vec![6; 297],
        ..row.clone()
    };
    main.put_device_endorsement(&newer, &[], None)
        .await
        .unwrap();
    let all = main.device_endorsements_of_user(nu.id).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].endorsement, vec![6; 297]);
    // not for a trusted device, nor in another user's name
    let on_trusted = DeviceEndorsementRow {
        device_id: d2.id,
        ..row.clone()
    };
    conflict(main.put_device_endorsement(&on_trusted, &[], None).await);
    let wrong_user = DeviceEndorsementRow {
        user_id: admin.id,
        ..row
    };
    invalid(
        main.put_device_endorsement(&wrong_user, &[], None).await,
        "another user",
    );
    assert_eq!(
        main.device_endorsements_of_user(nu.id).await.unwrap().len(),
        1
    );
}
