//! Password-reset cases (protocol.md §20): a new token replaces the unused ones; an expired,
//! used or foreign token changes nothing; a completed reset replaces the credentials, revokes
//! every old device and session, drops the identity grants, the attestations and the recovery
//! keys, flags the user's vaults for rotation and adds the new device with its session — all in
//! one transaction.

use coffer_crypto::{ChainLink, KeyPair};
use coffer_proto::vault::{GrantRecipient, VaultRole};
use coffer_proto::{DeviceId, DeviceState, ResetId, Role, SessionId, WorkspaceId};
use coffer_store::{
    Credentials, MainStore, NewDevice, NewGrant, NewPasswordReset, NewSession, NewWorkspace,
    StoreError,
};

use super::vaults::new_vault;
use super::{Env, credentials, ev, make_user};

fn token_hash(tag: u8) -> Vec<u8> {
    vec![tag; 32]
}

fn reset_of(
    user: coffer_proto::UserId,
    ws: WorkspaceId,
    by: coffer_proto::UserId,
    tag: u8,
    expires_at: i64,
) -> NewPasswordReset {
    NewPasswordReset {
        id: ResetId::new_random(),
        user_id: user,
        workspace_id: ws,
        token_hash: token_hash(tag),
        created_by: by,
        expires_at,
    }
}

fn device(user: coffer_proto::UserId, state: DeviceState) -> NewDevice {
    NewDevice {
        id: DeviceId::new_random(),
        user_id: user,
        name: "d".into(),
        public_keys: b"keys".to_vec(),
        certificate: Some(b"cert".to_vec()),
        state,
        server_share: b"share".to_vec(),
    }
}

fn session(user: coffer_proto::UserId, device: DeviceId, tag: u8) -> NewSession {
    NewSession {
        id: SessionId::new_random(),
        token_hash: vec![tag; 32],
        user_id: user,
        device_id: device,
        expires_at: i64::MAX / 2,
        mfa_verified: true,
    }
}

fn far() -> i64 {
    4_000_000_000
}

async fn untouched(main: &MainStore, bob: coffer_proto::UserId, old_dev: DeviceId) {
    let user = main.user(bob).await.unwrap();
    assert_eq!(
        user.credentials.identity_public_keys,
        b"identity-bob@resets.test".to_vec(),
        "credentials changed by a refused reset"
    );
    let d = main.device(old_dev).await.unwrap();
    assert_eq!(
        d.state,
        DeviceState::Trusted,
        "device revoked by a refused reset"
    );
}

pub(crate) async fn password_resets(env: Env) {
    let main = env.main().await;
    let owner = make_user(&main, "owner@resets.test").await;
    let bob = make_user(&main, "bob@resets.test").await;
    let ws = WorkspaceId::new_random();
    main.create_workspace(
        &NewWorkspace {
            id: ws,
            name: "resets".into(),
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
    main.set_attestation(ws, bob.id, b"attestation", None)
        .await
        .unwrap();
    let old = device(bob.id, DeviceState::Trusted);
    let old_dev = old.id;
    main.create_device(&old, None).await.unwrap();
    main.create_session(&session(bob.id, old_dev, 1), None)
        .await
        .unwrap();
    let (vault, _) = new_vault(&main, owner.id).await;
    let g = |recipient| NewGrant {
        recipient,
        epoch: 1,
        grant: b"grant".to_vec(),
        signer_key: [9; 32],
        signer_device: None,
    };
    main.share_vault(
        vault,
        bob.id,
        VaultRole::Editor,
        None,
        &[
            g(GrantRecipient::User(bob.id)),
            g(GrantRecipient::Device(old_dev)),
        ],
        None,
    )
    .await
    .unwrap();

    // a new token replaces the unused one
    main.create_password_reset(&reset_of(bob.id, ws, owner.id, 7, far()), None)
        .await
        .unwrap();
    let r = main
        .create_password_reset(&reset_of(bob.id, ws, owner.id, 8, far()), None)
        .await
        .unwrap();
    assert!(matches!(
        main.password_reset_by_token(&token_hash(7)).await,
        Err(StoreError::NotFound)
    ));
    let found = main.password_reset_by_token(&token_hash(8)).await.unwrap();
    assert_eq!(
        (found.id, found.user_id, found.used_at),
        (r.id, bob.id, None)
    );
    let bad = main
        .create_password_reset(
            &NewPasswordReset {
                token_hash: vec![1; 5],
                ..reset_of(bob.id, ws, owner.id, 9, far())
            },
            None,
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");

    // an expired token: Conflict, nothing written (not even the new device)
    let expired = main
        .create_password_reset(&reset_of(bob.id, ws, owner.id, 10, 1), None)
        .await
        .unwrap();
    let new = device(bob.id, DeviceState::Trusted);
    let done = main
        .complete_password_reset(
            expired.id,
            bob.id,
            &credentials("new"),
            (&new, &session(bob.id, new.id, 2), &[]),
            Some(&ev("user.password_reset", bob.id)),
        )
        .await;
    assert!(matches!(done, Err(StoreError::Conflict(_))), "{done:?}");
    untouched(&main, bob.id, old_dev).await;
    assert!(main.device(new.id).await.is_err(), "half-written reset");

    // (issuing the expired token replaced the one before it)
    assert!(main.password_reset_by_token(&token_hash(8)).await.is_err());
    let r = main
        .create_password_reset(&reset_of(bob.id, ws, owner.id, 11, far()), None)
        .await
        .unwrap();

    // a token of another user: Conflict; a device of another user: Invalid
    let done = main
        .complete_password_reset(
            expired.id,
            owner.id,
            &credentials("new"),
            (
                &device(owner.id, DeviceState::Trusted),
                &session(owner.id, new.id, 3),
                &[],
            ),
            None,
        )
        .await;
    assert!(done.is_err(), "{done:?}");
    let foreign = device(owner.id, DeviceState::Trusted);
    let done = main
        .complete_password_reset(
            r.id,
            bob.id,
            &credentials("new"),
            (&foreign, &session(bob.id, foreign.id, 4), &[]),
            None,
        )
        .await;
    assert!(matches!(done, Err(StoreError::Invalid(_))), "{done:?}");
    untouched(&main, bob.id, old_dev).await;

    // a recovery key of bob's is dropped by the reset (its pointer returned)
    let recovery_pointer = super::recovery::enrol(&main, vault, bob.id).await;

    // the reset itself: real keys, the new device's genesis link under the new identity
    let identity = KeyPair::generate().unwrap();
    let device_keys = KeyPair::generate().unwrap();
    let new_creds = Credentials {
        identity_public_keys: identity.public().to_bytes().to_vec(),
        ..credentials("new")
    };
    let new = NewDevice {
        public_keys: device_keys.public().to_bytes().to_vec(),
        ..new
    };
    let genesis = ChainLink::add(
        None,
        *new.id.as_uuid().as_bytes(),
        &device_keys.public(),
        1,
        &identity,
    )
    .unwrap();
    // a link signed by another identity: Invalid, nothing written
    let wrong = ChainLink::add(
        None,
        *new.id.as_uuid().as_bytes(),
        &device_keys.public(),
        1,
        &KeyPair::generate().unwrap(),
    )
    .unwrap();
    let done = main
        .complete_password_reset(
            r.id,
            bob.id,
            &new_creds,
            (&new, &session(bob.id, new.id, 5), wrong.as_bytes()),
            None,
        )
        .await;
    assert!(matches!(done, Err(StoreError::Invalid(_))), "{done:?}");
    untouched(&main, bob.id, old_dev).await;
    let out = main
        .complete_password_reset(
            r.id,
            bob.id,
            &new_creds,
            (&new, &session(bob.id, new.id, 5), genesis.as_bytes()),
            Some(&ev("user.password_reset", bob.id)),
        )
        .await
        .unwrap();
    assert_eq!(
        main.device_chain(bob.id).await.unwrap().len(),
        1,
        "the new identity's chain starts at its genesis"
    );
    assert_eq!(out.devices_revoked, 1);
    assert_eq!(out.device.state, DeviceState::Trusted);
    assert_eq!(out.dropped_shares, vec![recovery_pointer]);
    let user = main.user(bob.id).await.unwrap();
    assert_eq!(
        user.credentials.identity_public_keys,
        identity.public().to_bytes().to_vec()
    );
    assert_eq!(
        main.device(old_dev).await.unwrap().state,
        DeviceState::Revoked
    );
    let sessions = main.list_sessions(bob.id).await.unwrap();
    assert_eq!(
        sessions.iter().filter(|s| !s.revoked).count(),
        1,
        "only the new session lives: {sessions:?}"
    );
    assert_eq!(
        main.vault_grants_for(vault, new.id, bob.id)
            .await
            .unwrap()
            .len(),
        0,
        "old identity and device grants dropped"
    );
    assert_eq!(main.member(ws, bob.id).await.unwrap().attestation, None);
    assert!(main.vault(vault).await.unwrap().rotation_due);
    assert_eq!(
        main.vault_role(vault, bob.id).await.unwrap(),
        VaultRole::Editor,
        "the membership stays: replication gives the key back"
    );
    assert!(
        main.recovery_keys_of_user(bob.id, None)
            .await
            .unwrap()
            .is_empty(),
        "recovery keys of the old identity dropped"
    );
    assert!(
        main.password_reset_by_token(&token_hash(11))
            .await
            .unwrap()
            .used_at
            .is_some()
    );
    // single use
    let again = device(bob.id, DeviceState::Trusted);
    let done = main
        .complete_password_reset(
            r.id,
            bob.id,
            &credentials("again"),
            (&again, &session(bob.id, again.id, 6), &[]),
            None,
        )
        .await;
    assert!(matches!(done, Err(StoreError::Conflict(_))), "{done:?}");
}
