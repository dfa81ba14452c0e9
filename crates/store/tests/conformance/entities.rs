//! CRUD, uniqueness, not-found, concurrency and rollback cases for the main store's entities.

use coffer_proto::{
    DeviceId, DeviceState, InviteId, InviteState, Role, SessionId, UserId, WorkspaceId,
};
use coffer_store::{
    AuditVerdict, DataKeyId, DataKeyState, MfaSettings, NewDevice, NewInvite, NewSession, NewUser,
    NewWorkspace, SessionRevocation, StoreError,
};

use super::{Env, credentials, ev, head, make_user};

fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "expected Conflict, got {r:?}"
    );
}

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::NotFound)),
        "expected NotFound, got {r:?}"
    );
}

fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Invalid(_))),
        "expected Invalid, got {r:?}"
    );
}

fn new_device(user: UserId, state: DeviceState) -> NewDevice {
    NewDevice {
        id: DeviceId::new_random(),
        user_id: user,
        name: "laptop".into(),
        public_keys: b"device-public-keys".to_vec(),
        certificate: None,
        state,
        server_share: b"device-server-share".to_vec(),
    }
}

fn new_session(user: UserId, device: DeviceId, token: &str, expires_at: i64) -> NewSession {
    NewSession {
        id: SessionId::new_random(),
        token_hash: format!("hash-of-{token}").into_bytes(),
        user_id: user,
        device_id: device,
        expires_at,
        mfa_verified: false,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) async fn users(env: Env) {
    let main = env.main().await;
    assert_eq!(main.count_users().await.unwrap(), 0);
    let id = UserId::new_random();
    let created = main
        .create_user(
            &NewUser {
                id,
                email: "Alice@Example.com".into(),
                credentials: credentials("a1"),
            },
            Some(&ev("user.create", id)),
        )
        .await
        .unwrap();
    assert_eq!(head(&main).await, 1);
    let got = main.user(id).await.unwrap();
    assert_eq!(got, created);
    assert_eq!(got.email, "Alice@Example.com");
    assert_eq!(got.credentials, credentials("a1"));
    assert!(!got.mfa.enabled && got.mfa.totp_secret.is_none());
    assert!(got.created_at > 1_600_000_000);
    assert_eq!(
        main.user_by_email("alice@EXAMPLE.com").await.unwrap().id,
        id
    );
    assert_eq!(main.count_users().await.unwrap(), 1);

    // Unique id and case-insensitive unique email.
    conflict(
        main.create_user(
            &NewUser {
                id,
                email: "other@example.com".into(),
                credentials: credentials("x"),
            },
            None,
        )
        .await,
    );
    conflict(
        main.create_user(
            &NewUser {
                id: UserId::new_random(),
                email: "ALICE@example.COM".into(),
                credentials: credentials("x"),
            },
            None,
        )
        .await,
    );
    invalid(
        main.create_user(
            &NewUser {
                id: UserId::new_random(),
                email: " ".into(),
                credentials: credentials("x"),
            },
            None,
        )
        .await,
    );
    not_found(main.user(UserId::new_random()).await);
    not_found(main.user_by_email("nobody@example.com").await);

    // Email change; the old address is free again, a taken one is not.
    let bob = make_user(&main, "bob@example.com").await;
    conflict(main.set_user_email(bob.id, "alice@example.com", None).await);
    main.set_user_email(id, "alice2@example.com", None)
        .await
        .unwrap();
    not_found(main.user_by_email("alice@example.com").await);
    assert_eq!(
        main.user_by_email("ALICE2@example.com").await.unwrap().id,
        id
    );
    not_found(
        main.set_user_email(UserId::new_random(), "z@example.com", None)
            .await,
    );

    // Credentials replaced together, revoking other sessions in the same transaction.
    let dev = main
        .create_device(&new_device(id, DeviceState::Trusted), None)
        .await
        .unwrap();
    let keep = main
        .create_session(&new_session(id, dev.id, "keep", now() + 3600), None)
        .await
        .unwrap();
    let other = main
        .create_session(&new_session(id, dev.id, "other", now() + 3600), None)
        .await
        .unwrap();
    let before = head(&main).await;
    let revoked = main
        .replace_credentials(
            id,
            &credentials("a2"),
            SessionRevocation::AllExcept(keep.id),
            Some(&ev("user.password_change", id)),
        )
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    assert_eq!(head(&main).await, before + 1);
    assert_eq!(main.user(id).await.unwrap().credentials, credentials("a2"));
    assert!(!main.session(keep.id).await.unwrap().revoked);
    assert!(main.session(other.id).await.unwrap().revoked);
    assert_eq!(
        main.replace_credentials(id, &credentials("a3"), SessionRevocation::All, None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        main.replace_credentials(id, &credentials("a4"), SessionRevocation::None, None)
            .await
            .unwrap(),
        0
    );
    not_found(
        main.replace_credentials(
            UserId::new_random(),
            &credentials("z"),
            SessionRevocation::All,
            None,
        )
        .await,
    );

    main.set_signed_account_state(id, b"state-v2", None)
        .await
        .unwrap();
    let u = main.user(id).await.unwrap();
    assert_eq!(u.credentials.signed_account_state, b"state-v2");
    assert_eq!(u.credentials.opaque_record, b"opaque-a4");

    // MFA.
    invalid(
        main.set_mfa(
            id,
            &MfaSettings {
                totp_secret: None,
                enabled: true,
            },
            None,
        )
        .await,
    );
    main.set_mfa(
        id,
        &MfaSettings {
            totp_secret: Some(b"enc-totp".to_vec()),
            enabled: true,
        },
        None,
    )
    .await
    .unwrap();
    let u = main.user(id).await.unwrap();
    assert!(u.mfa.enabled);
    assert_eq!(u.mfa.totp_secret.as_deref(), Some(&b"enc-totp"[..]));
    main.set_mfa(
        id,
        &MfaSettings {
            totp_secret: None,
            enabled: false,
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(main.user(id).await.unwrap().mfa.totp_secret, None);

    // Deleting a user takes their devices and sessions along.
    main.delete_user(id, Some(&ev("user.delete", id)))
        .await
        .unwrap();
    not_found(main.user(id).await);
    not_found(main.device(dev.id).await);
    not_found(main.session(keep.id).await);
    not_found(main.delete_user(id, None).await);
    assert_eq!(main.count_users().await.unwrap(), 1);
    assert!(matches!(
        main.verify_audit_chain().await.unwrap(),
        AuditVerdict::Intact { .. }
    ));
}

pub(crate) async fn recovery_codes(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "carol@example.com").await;
    not_found(
        main.replace_recovery_codes(UserId::new_random(), &[b"h".to_vec()], None)
            .await,
    );
    let codes: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("code-hash-{i}").into_bytes())
        .collect();
    main.replace_recovery_codes(u.id, &codes, None)
        .await
        .unwrap();
    assert_eq!(main.unused_recovery_codes(u.id).await.unwrap(), 5);

    let before = head(&main).await;
    assert!(
        main.consume_recovery_code(u.id, b"code-hash-2", Some(&ev("mfa.recovery", u.id)))
            .await
            .unwrap()
    );
    assert_eq!(head(&main).await, before + 1);
    // Used once: the second try fails and appends nothing.
    assert!(
        !main
            .consume_recovery_code(u.id, b"code-hash-2", Some(&ev("mfa.recovery", u.id)))
            .await
            .unwrap()
    );
    assert_eq!(head(&main).await, before + 1);
    assert!(
        !main
            .consume_recovery_code(u.id, b"no-such-code", None)
            .await
            .unwrap()
    );
    // Another user's codes are not this user's.
    let other = make_user(&main, "dave@example.com").await;
    assert!(
        !main
            .consume_recovery_code(other.id, b"code-hash-3", None)
            .await
            .unwrap()
    );
    assert_eq!(main.unused_recovery_codes(u.id).await.unwrap(), 4);

    // Replacing drops every old code, used or not.
    main.replace_recovery_codes(u.id, &[b"fresh".to_vec()], None)
        .await
        .unwrap();
    assert_eq!(main.unused_recovery_codes(u.id).await.unwrap(), 1);
    assert!(
        !main
            .consume_recovery_code(u.id, b"code-hash-3", None)
            .await
            .unwrap()
    );
    assert!(
        main.consume_recovery_code(u.id, b"fresh", None)
            .await
            .unwrap()
    );
    assert_eq!(main.unused_recovery_codes(u.id).await.unwrap(), 0);
}

pub(crate) async fn recovery_code_race(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "erin@example.com").await;
    let codes: Vec<Vec<u8>> = (0..3).map(|i| format!("race-{i}").into_bytes()).collect();
    main.replace_recovery_codes(u.id, &codes, None)
        .await
        .unwrap();
    let before = head(&main).await;
    // 3 codes × 8 tasks each: every code is consumed by exactly one task.
    let mut tasks = Vec::new();
    for round in 0..8 {
        for code in &codes {
            let main = main.clone();
            let code = code.clone();
            let id = u.id;
            tasks.push(tokio::spawn(async move {
                let e = ev("mfa.recovery", format!("{id}/{round}"));
                (
                    code.clone(),
                    main.consume_recovery_code(id, &code, Some(&e))
                        .await
                        .unwrap(),
                )
            }));
        }
    }
    let mut wins = std::collections::HashMap::new();
    for t in tasks {
        let (code, won) = t.await.unwrap();
        if won {
            *wins.entry(code).or_insert(0) += 1;
        }
    }
    assert_eq!(wins.len(), 3, "{wins:?}");
    assert!(wins.values().all(|&n| n == 1), "{wins:?}");
    assert_eq!(main.unused_recovery_codes(u.id).await.unwrap(), 0);
    assert_eq!(head(&main).await, before + 3);
}

pub(crate) async fn devices(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "frank@example.com").await;
    let nd = new_device(u.id, DeviceState::Pending);
    let d = main
        .create_device(&nd, Some(&ev("device.create", nd.id)))
        .await
        .unwrap();
    assert_eq!(main.device(nd.id).await.unwrap(), d);
    assert_eq!(d.state, DeviceState::Pending);
    assert_eq!(d.certificate, None);
    assert_eq!(d.public_keys, b"device-public-keys");
    conflict(main.create_device(&nd, None).await);
    not_found(
        main.create_device(
            &new_device(UserId::new_random(), DeviceState::Pending),
            None,
        )
        .await,
    );
    invalid(
        main.create_device(
            &NewDevice {
                name: String::new(),
                ..new_device(u.id, DeviceState::Pending)
            },
            None,
        )
        .await,
    );
    not_found(main.device(DeviceId::new_random()).await);

    main.approve_device(d.id, b"certificate", &[], None)
        .await
        .unwrap();
    let d2 = main.device(d.id).await.unwrap();
    assert_eq!(d2.state, DeviceState::Trusted);
    assert_eq!(d2.certificate.as_deref(), Some(&b"certificate"[..]));
    conflict(main.approve_device(d.id, b"again", &[], None).await);
    not_found(
        main.approve_device(DeviceId::new_random(), b"c", &[], None)
            .await,
    );

    main.rename_device(d.id, "work laptop", None).await.unwrap();
    main.set_device_server_share(d.id, b"share-2", None)
        .await
        .unwrap();
    main.touch_device(d.id, 2_000_000_000, None).await.unwrap();
    main.set_device_certificate(d.id, Some(b"cert-2"), None)
        .await
        .unwrap();
    let d3 = main.device(d.id).await.unwrap();
    assert_eq!(d3.name, "work laptop");
    assert_eq!(d3.server_share, b"share-2");
    assert_eq!(d3.last_seen_at, 2_000_000_000);
    assert_eq!(d3.certificate.as_deref(), Some(&b"cert-2"[..]));
    not_found(main.rename_device(DeviceId::new_random(), "x", None).await);

    let second = main
        .create_device(&new_device(u.id, DeviceState::Trusted), None)
        .await
        .unwrap();
    let listed: Vec<DeviceId> = main
        .list_devices(u.id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&d.id) && listed.contains(&second.id));

    // Revoking a device revokes its sessions, and only its sessions, in one step.
    let s1 = main
        .create_session(&new_session(u.id, d.id, "t1", now() + 60), None)
        .await
        .unwrap();
    let s2 = main
        .create_session(&new_session(u.id, d.id, "t2", now() + 60), None)
        .await
        .unwrap();
    let s3 = main
        .create_session(&new_session(u.id, second.id, "t3", now() + 60), None)
        .await
        .unwrap();
    assert_eq!(
        main.revoke_device(d.id, Some(&ev("device.revoke", d.id)))
            .await
            .unwrap(),
        2
    );
    assert_eq!(main.device(d.id).await.unwrap().state, DeviceState::Revoked);
    assert!(main.session(s1.id).await.unwrap().revoked);
    assert!(main.session(s2.id).await.unwrap().revoked);
    assert!(!main.session(s3.id).await.unwrap().revoked);
    assert_eq!(main.revoke_device(d.id, None).await.unwrap(), 0);
    not_found(main.revoke_device(DeviceId::new_random(), None).await);

    // Deleting a device deletes its sessions.
    main.delete_device(second.id, None).await.unwrap();
    not_found(main.session(s3.id).await);
    not_found(main.delete_device(second.id, None).await);
    assert_eq!(main.list_devices(u.id).await.unwrap().len(), 1);
}

pub(crate) async fn sessions(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "gina@example.com").await;
    let other = make_user(&main, "hank@example.com").await;
    let d = main
        .create_device(&new_device(u.id, DeviceState::Trusted), None)
        .await
        .unwrap();
    let d_other = main
        .create_device(&new_device(other.id, DeviceState::Trusted), None)
        .await
        .unwrap();
    let t = now();

    let ns = new_session(u.id, d.id, "tok", t + 3600);
    let s = main
        .create_session(&ns, Some(&ev("session.create", ns.id)))
        .await
        .unwrap();
    assert_eq!(main.session(s.id).await.unwrap(), s);
    assert!(s.is_live(t) && !s.is_live(t + 3600));
    assert_eq!(
        main.live_session_by_token_hash(b"hash-of-tok", t)
            .await
            .unwrap()
            .id,
        s.id
    );
    not_found(
        main.live_session_by_token_hash(b"hash-of-tok", t + 3600)
            .await,
    );
    not_found(main.live_session_by_token_hash(b"hash-of-nothing", t).await);

    // Unique token hash and id; the device must be the user's.
    conflict(
        main.create_session(&new_session(u.id, d.id, "tok", t + 60), None)
            .await,
    );
    conflict(
        main.create_session(
            &NewSession {
                token_hash: b"fresh".to_vec(),
                ..ns.clone()
            },
            None,
        )
        .await,
    );
    not_found(
        main.create_session(&new_session(u.id, d_other.id, "x", t + 60), None)
            .await,
    );
    not_found(
        main.create_session(
            &new_session(u.id, DeviceId::new_random(), "y", t + 60),
            None,
        )
        .await,
    );

    main.touch_session(s.id, t + 10, None).await.unwrap();
    main.mark_session_mfa_verified(s.id, None).await.unwrap();
    let s2 = main.session(s.id).await.unwrap();
    assert_eq!(s2.last_used_at, t + 10);
    assert!(s2.mfa_verified);
    not_found(main.touch_session(SessionId::new_random(), t, None).await);

    main.revoke_session(s.id, None).await.unwrap();
    not_found(main.live_session_by_token_hash(b"hash-of-tok", t).await);
    main.revoke_session(s.id, None).await.unwrap();
    not_found(main.revoke_session(SessionId::new_random(), None).await);

    let a = main
        .create_session(&new_session(u.id, d.id, "a", t + 60), None)
        .await
        .unwrap();
    let b = main
        .create_session(&new_session(u.id, d.id, "b", t + 60), None)
        .await
        .unwrap();
    let c = main
        .create_session(&new_session(u.id, d.id, "c", t - 1), None)
        .await
        .unwrap();
    let o = main
        .create_session(&new_session(other.id, d_other.id, "o", t + 60), None)
        .await
        .unwrap();
    assert_eq!(main.list_sessions(u.id).await.unwrap().len(), 4);
    assert_eq!(
        main.revoke_user_sessions(u.id, Some(a.id), None)
            .await
            .unwrap(),
        2
    );
    assert!(!main.session(a.id).await.unwrap().revoked);
    assert!(main.session(b.id).await.unwrap().revoked);
    assert!(!main.session(o.id).await.unwrap().revoked);
    assert_eq!(main.revoke_device_sessions(d.id, None).await.unwrap(), 1);
    assert!(main.session(a.id).await.unwrap().revoked);

    // Purging removes exactly the expired ones.
    assert_eq!(main.purge_expired_sessions(t, None).await.unwrap(), 1);
    not_found(main.session(c.id).await);
    assert!(main.session(o.id).await.is_ok());
    assert_eq!(
        main.purge_expired_sessions(t + 3600, None).await.unwrap(),
        4
    );
    assert!(main.list_sessions(u.id).await.unwrap().is_empty());
}

pub(crate) async fn workspaces_and_members(env: Env) {
    let main = env.main().await;
    let alice = make_user(&main, "alice@example.com").await;
    let bob = make_user(&main, "bob@example.com").await;
    let nw = NewWorkspace {
        id: WorkspaceId::new_random(),
        name: "Acme".into(),
        mfa_required: false,
    };
    let ws = main
        .create_workspace(
            &nw,
            alice.id,
            Some(&ev("workspace.create", nw.id).workspace(nw.id)),
        )
        .await
        .unwrap();
    assert_eq!(main.workspace(ws.id).await.unwrap(), ws);
    assert_eq!(main.workspace_by_name("Acme").await.unwrap().id, ws.id);
    assert_eq!(
        main.member(ws.id, alice.id).await.unwrap().role,
        Role::Owner
    );
    assert_eq!(main.count_owners(ws.id).await.unwrap(), 1);
    conflict(
        main.create_workspace(
            &NewWorkspace {
                id: WorkspaceId::new_random(),
                name: "Acme".into(),
                mfa_required: true,
            },
            bob.id,
            None,
        )
        .await,
    );
    conflict(
        main.create_workspace(
            &NewWorkspace {
                name: "Other".into(),
                ..nw.clone()
            },
            bob.id,
            None,
        )
        .await,
    );
    not_found(main.workspace(WorkspaceId::new_random()).await);

    // Members.
    let m = main
        .add_member(ws.id, bob.id, Role::Developer, None)
        .await
        .unwrap();
    assert_eq!(m.role, Role::Developer);
    assert_eq!(m.email, "bob@example.com");
    conflict(main.add_member(ws.id, bob.id, Role::Member, None).await);
    not_found(
        main.add_member(ws.id, UserId::new_random(), Role::Member, None)
            .await,
    );
    not_found(
        main.add_member(WorkspaceId::new_random(), bob.id, Role::Member, None)
            .await,
    );
    let members = main.list_members(ws.id).await.unwrap();
    assert_eq!(members.len(), 2);
    let ws_of_bob = main.list_workspaces_of_user(bob.id).await.unwrap();
    assert_eq!(ws_of_bob.len(), 1);
    assert_eq!(ws_of_bob[0].workspace.id, ws.id);
    assert_eq!(ws_of_bob[0].role, Role::Developer);

    // The last owner cannot leave, be demoted or be deleted.
    conflict(main.remove_member(ws.id, alice.id, None).await);
    conflict(
        main.set_member_role(ws.id, alice.id, Role::Admin, None)
            .await,
    );
    conflict(main.delete_user(alice.id, None).await);
    assert_eq!(
        main.member(ws.id, alice.id).await.unwrap().role,
        Role::Owner
    );
    let before = head(&main).await;
    assert_eq!(
        main.set_member_role(ws.id, bob.id, Role::Owner, Some(&ev("member.role", bob.id)))
            .await
            .unwrap()
            .role,
        Role::Owner
    );
    assert_eq!(head(&main).await, before + 1);
    assert_eq!(main.count_owners(ws.id).await.unwrap(), 2);
    main.set_member_role(ws.id, alice.id, Role::Admin, None)
        .await
        .unwrap();
    not_found(
        main.set_member_role(ws.id, UserId::new_random(), Role::Admin, None)
            .await,
    );
    main.remove_member(ws.id, alice.id, None).await.unwrap();
    not_found(main.member(ws.id, alice.id).await);
    not_found(main.remove_member(ws.id, alice.id, None).await);
    assert!(
        main.list_workspaces_of_user(alice.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Policy and rename.
    main.set_workspace_policy(ws.id, true, Some(b"signed-policy"), None)
        .await
        .unwrap();
    main.rename_workspace(ws.id, "Acme Corp", None)
        .await
        .unwrap();
    let w = main.workspace(ws.id).await.unwrap();
    assert!(w.mfa_required);
    assert_eq!(w.signed_policy.as_deref(), Some(&b"signed-policy"[..]));
    assert_eq!(w.name, "Acme Corp");
    main.create_workspace(
        &NewWorkspace {
            id: WorkspaceId::new_random(),
            name: "Beta".into(),
            mfa_required: false,
        },
        alice.id,
        None,
    )
    .await
    .unwrap();
    conflict(main.rename_workspace(ws.id, "Beta", None).await);

    // Deleting a workspace takes its members.
    main.delete_workspace(ws.id, None).await.unwrap();
    not_found(main.workspace(ws.id).await);
    assert!(
        main.list_workspaces_of_user(bob.id)
            .await
            .unwrap()
            .is_empty()
    );
    not_found(main.delete_workspace(ws.id, None).await);
}

pub(crate) async fn last_owner_race(env: Env) {
    // Two owners leave at once, many times over: at most one may succeed each time.
    let main = env.main().await;
    for round in 0..6 {
        let a = make_user(&main, &format!("a{round}@example.com")).await;
        let b = make_user(&main, &format!("b{round}@example.com")).await;
        let ws = main
            .create_workspace(
                &NewWorkspace {
                    id: WorkspaceId::new_random(),
                    name: format!("race{round}"),
                    mfa_required: false,
                },
                a.id,
                None,
            )
            .await
            .unwrap();
        main.add_member(ws.id, b.id, Role::Owner, None)
            .await
            .unwrap();
        let (m1, m2) = (main.clone(), main.clone());
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { m1.remove_member(ws.id, a.id, None).await }),
            tokio::spawn(async move { m2.set_member_role(ws.id, b.id, Role::Member, None).await }),
        );
        let (r1, r2) = (r1.unwrap(), r2.unwrap());
        assert!(r1.is_ok() != r2.is_ok(), "round {round}: {r1:?} {r2:?}");
        assert_eq!(main.count_owners(ws.id).await.unwrap(), 1);
    }
}

pub(crate) async fn invites(env: Env) {
    let main = env.main().await;
    let admin = make_user(&main, "admin@example.com").await;
    let ws = main
        .create_workspace(
            &NewWorkspace {
                id: WorkspaceId::new_random(),
                name: "Inv".into(),
                mfa_required: false,
            },
            admin.id,
            None,
        )
        .await
        .unwrap();
    let ni = NewInvite {
        id: InviteId::new_random(),
        workspace_id: ws.id,
        email: "Newbie@Example.com".into(),
        role: Role::Developer,
        invited_by: Some(admin.id),
    };
    let inv = main
        .create_invite(&ni, Some(&ev("invite.create", ni.id).workspace(ws.id)))
        .await
        .unwrap();
    assert_eq!(main.invite(ni.id).await.unwrap(), inv);
    assert_eq!(inv.state, InviteState::Pending);
    // One pending invite per address and workspace, case-insensitively.
    conflict(
        main.create_invite(
            &NewInvite {
                id: InviteId::new_random(),
                email: "newbie@example.com".into(),
                ..ni.clone()
            },
            None,
        )
        .await,
    );
    not_found(
        main.create_invite(
            &NewInvite {
                id: InviteId::new_random(),
                workspace_id: WorkspaceId::new_random(),
                ..ni.clone()
            },
            None,
        )
        .await,
    );
    assert_eq!(
        main.pending_invites_for_email("NEWBIE@example.com")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(main.list_invites(ws.id, None).await.unwrap().len(), 1);
    assert_eq!(
        main.list_invites(ws.id, Some(InviteState::Accepted))
            .await
            .unwrap()
            .len(),
        0
    );

    let newbie = make_user(&main, "newbie@example.com").await;
    let before = head(&main).await;
    let m = main
        .accept_invite(ni.id, newbie.id, Some(&ev("invite.accept", ni.id)))
        .await
        .unwrap();
    assert_eq!(m.role, Role::Developer);
    assert_eq!(m.user_id, newbie.id);
    assert_eq!(head(&main).await, before + 1);
    let inv = main.invite(ni.id).await.unwrap();
    assert_eq!(inv.state, InviteState::Accepted);
    assert_eq!(inv.accepted_by, Some(newbie.id));
    assert!(inv.answered_at.is_some());
    conflict(main.accept_invite(ni.id, newbie.id, None).await);
    not_found(
        main.accept_invite(InviteId::new_random(), newbie.id, None)
            .await,
    );
    assert!(
        main.pending_invites_for_email("newbie@example.com")
            .await
            .unwrap()
            .is_empty()
    );

    // A new invite to the same address is possible once the first is answered; revoking.
    let ni2 = NewInvite {
        id: InviteId::new_random(),
        ..ni.clone()
    };
    main.create_invite(&ni2, None).await.unwrap();
    main.revoke_invite(ni2.id, None).await.unwrap();
    assert_eq!(
        main.invite(ni2.id).await.unwrap().state,
        InviteState::Revoked
    );
    conflict(main.revoke_invite(ni2.id, None).await);
    conflict(main.accept_invite(ni2.id, newbie.id, None).await);
    not_found(main.revoke_invite(InviteId::new_random(), None).await);
    assert_eq!(
        main.list_invites(ws.id, Some(InviteState::Revoked))
            .await
            .unwrap()
            .len(),
        1
    );

    // The inviter's deletion clears `invited_by` and keeps the invite.
    let other_owner = make_user(&main, "owner2@example.com").await;
    main.add_member(ws.id, other_owner.id, Role::Owner, None)
        .await
        .unwrap();
    main.delete_user(admin.id, None).await.unwrap();
    assert_eq!(main.invite(ni.id).await.unwrap().invited_by, None);
}

pub(crate) async fn server_secrets_and_data_keys(env: Env) {
    let main = env.main().await;
    let s = main
        .create_server_secret("opaque_server_setup", b"wrapped-setup", None)
        .await
        .unwrap();
    assert_eq!(main.server_secret("opaque_server_setup").await.unwrap(), s);
    conflict(
        main.create_server_secret("opaque_server_setup", b"other", None)
            .await,
    );
    assert_eq!(
        main.server_secret("opaque_server_setup")
            .await
            .unwrap()
            .value,
        b"wrapped-setup"
    );
    main.put_server_secret("opaque_server_setup", b"replaced", None)
        .await
        .unwrap();
    main.put_server_secret("new_one", b"v", None).await.unwrap();
    assert_eq!(
        main.server_secret("opaque_server_setup")
            .await
            .unwrap()
            .value,
        b"replaced"
    );
    assert_eq!(main.server_secret("new_one").await.unwrap().value, b"v");
    main.delete_server_secret("new_one", None).await.unwrap();
    not_found(main.server_secret("new_one").await);
    not_found(main.delete_server_secret("new_one", None).await);

    not_found(main.current_data_key().await);
    let k1 = DataKeyId::random();
    let k2 = DataKeyId::random();
    main.rotate_data_key(k1, b"wrapped-1", Some(&ev("data_key.rotate", k1)))
        .await
        .unwrap();
    assert_eq!(main.current_data_key().await.unwrap().id, k1);
    main.rotate_data_key(k2, b"wrapped-2", None).await.unwrap();
    let cur = main.current_data_key().await.unwrap();
    assert_eq!(cur.id, k2);
    assert_eq!(cur.wrapped_key, b"wrapped-2");
    let old = main.data_key(k1).await.unwrap();
    assert_eq!(old.state, DataKeyState::Retired);
    assert!(old.retired_at.is_some());
    assert_eq!(main.list_data_keys().await.unwrap().len(), 2);
    conflict(main.rotate_data_key(k1, b"dup", None).await);
    assert_eq!(main.current_data_key().await.unwrap().id, k2);
    conflict(main.delete_data_key(k2, None).await);
    main.delete_data_key(k1, None).await.unwrap();
    not_found(main.data_key(k1).await);
    not_found(main.delete_data_key(k1, None).await);
}

pub(crate) async fn rollback_leaves_nothing(env: Env) {
    let main = env.main().await;
    let owner = make_user(&main, "owner@example.com").await;
    let ws = main
        .create_workspace(
            &NewWorkspace {
                id: WorkspaceId::new_random(),
                name: "RB".into(),
                mfa_required: false,
            },
            owner.id,
            None,
        )
        .await
        .unwrap();
    main.append_audit(&ev("marker", "start")).await.unwrap();
    let start = head(&main).await;

    // A bad audit event fails the whole change: the user is not created.
    let id = UserId::new_random();
    invalid(
        main.create_user(
            &NewUser {
                id,
                email: "ghost@example.com".into(),
                credentials: credentials("g"),
            },
            Some(&ev("", "empty action is refused")),
        )
        .await,
    );
    not_found(main.user(id).await);

    // Accepting an invite for someone already a member: the invite stays pending.
    let ni = NewInvite {
        id: InviteId::new_random(),
        workspace_id: ws.id,
        email: "owner@example.com".into(),
        role: Role::Member,
        invited_by: None,
    };
    main.create_invite(&ni, None).await.unwrap();
    conflict(
        main.accept_invite(ni.id, owner.id, Some(&ev("invite.accept", ni.id)))
            .await,
    );
    assert_eq!(
        main.invite(ni.id).await.unwrap().state,
        InviteState::Pending
    );
    assert_eq!(
        main.member(ws.id, owner.id).await.unwrap().role,
        Role::Owner
    );

    // A workspace whose owner does not exist is not created.
    conflict_or_not_found(
        main.create_workspace(
            &NewWorkspace {
                id: WorkspaceId::new_random(),
                name: "Orphan".into(),
                mfa_required: false,
            },
            UserId::new_random(),
            Some(&ev("workspace.create", "orphan")),
        )
        .await,
    );
    not_found(main.workspace_by_name("Orphan").await);

    // Duplicate recovery codes: the old codes survive.
    main.replace_recovery_codes(owner.id, &[b"keep-me".to_vec()], None)
        .await
        .unwrap();
    invalid(
        main.replace_recovery_codes(
            owner.id,
            &[b"x".to_vec(), b"x".to_vec()],
            Some(&ev("codes", "dup")),
        )
        .await,
    );
    assert_eq!(main.unused_recovery_codes(owner.id).await.unwrap(), 1);

    // A rotation to an existing key id retires nothing.
    let k = DataKeyId::random();
    main.rotate_data_key(k, b"w", None).await.unwrap();
    conflict(
        main.rotate_data_key(k, b"w2", Some(&ev("data_key.rotate", k)))
            .await,
    );
    assert_eq!(
        main.current_data_key().await.unwrap().state,
        DataKeyState::Current
    );
    assert_eq!(main.current_data_key().await.unwrap().wrapped_key, b"w");

    // Removing the last owner: still a member.
    conflict(
        main.remove_member(ws.id, owner.id, Some(&ev("member.remove", owner.id)))
            .await,
    );
    assert!(main.member(ws.id, owner.id).await.is_ok());

    // None of the failures appended an audit event.
    assert_eq!(head(&main).await, start);
    assert!(matches!(
        main.verify_audit_chain().await.unwrap(),
        AuditVerdict::Intact { .. }
    ));
}

fn conflict_or_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::NotFound) | Err(StoreError::Conflict(_))),
        "expected NotFound or Conflict, got {r:?}"
    );
}

pub(crate) async fn debug_hides_secrets(env: Env) {
    let main = env.main().await;
    let u = make_user(&main, "debug@example.com").await;
    main.set_mfa(
        u.id,
        &MfaSettings {
            totp_secret: Some(b"TOTPSECRET".to_vec()),
            enabled: true,
        },
        None,
    )
    .await
    .unwrap();
    let u = main.user(u.id).await.unwrap();
    let shown = format!("{u:?}");
    // The bytes of "opaque-debug@example.com" and "TOTPSECRET" as Vec<u8> Debug would print them.
    assert!(!shown.contains("111, 112, 97"), "{shown}");
    assert!(!shown.contains("84, 79, 84, 80"), "{shown}");
    assert!(
        shown.contains("<24 bytes>") && shown.contains("Some(<10 bytes>)"),
        "{shown}"
    );
    let secret = main
        .create_server_secret("s", b"SECRETVALUE", None)
        .await
        .unwrap();
    assert!(!format!("{secret:?}").contains("83, 69, 67"));
    assert!(format!("{main:?}").contains("MainStore"));
}

pub(crate) async fn atomic_signup_and_device_login(env: Env) {
    let main = env.main().await;
    let t = now();
    let user = NewUser {
        id: UserId::new_random(),
        email: "signup@example.com".into(),
        credentials: credentials("s"),
    };
    let device = NewDevice {
        certificate: Some(b"self-cert".to_vec()),
        ..new_device(user.id, DeviceState::Trusted)
    };
    let session = new_session(user.id, device.id, "signup", t + 60);
    let (u, d, s) = main
        .register_account(
            &user,
            &device,
            Some(&session),
            Some(&ev("user.signup", user.id)),
        )
        .await
        .unwrap();
    assert_eq!(main.user(u.id).await.unwrap(), u);
    assert_eq!(main.device(d.id).await.unwrap(), d);
    let s = s.unwrap();
    assert_eq!(
        main.live_session_by_token_hash(b"hash-of-signup", t)
            .await
            .unwrap(),
        s
    );
    assert_eq!(head(&main).await, 1);

    // Email taken: neither the device nor the session of the second signup is stored.
    let dup = NewUser {
        id: UserId::new_random(),
        email: "SIGNUP@example.com".into(),
        credentials: credentials("t"),
    };
    let dup_device = new_device(dup.id, DeviceState::Trusted);
    let dup_session = new_session(dup.id, dup_device.id, "dup", t + 60);
    conflict(
        main.register_account(
            &dup,
            &dup_device,
            Some(&dup_session),
            Some(&ev("user.signup", dup.id)),
        )
        .await,
    );
    not_found(main.device(dup_device.id).await);
    not_found(main.session(dup_session.id).await);
    invalid(
        main.register_account(&dup, &new_device(user.id, DeviceState::Trusted), None, None)
            .await,
    );
    assert_eq!(head(&main).await, 1);

    // Login from a new device: device and session together.
    let nd = new_device(u.id, DeviceState::Pending);
    let ns = new_session(u.id, nd.id, "second", t + 60);
    let (d2, s2) = main
        .create_device_with_session(&nd, &ns, Some(&ev("device.register", nd.id)))
        .await
        .unwrap();
    assert_eq!(d2.state, DeviceState::Pending);
    assert_eq!(main.session(s2.id).await.unwrap().device_id, nd.id);
    assert_eq!(head(&main).await, 2);
    // A taken token hash: the device is not stored either.
    let nd3 = new_device(u.id, DeviceState::Pending);
    let ns3 = new_session(u.id, nd3.id, "second", t + 60);
    conflict(
        main.create_device_with_session(&nd3, &ns3, Some(&ev("device.register", nd3.id)))
            .await,
    );
    not_found(main.device(nd3.id).await);
    invalid(
        main.create_device_with_session(&new_device(u.id, DeviceState::Pending), &ns3, None)
            .await,
    );
    assert_eq!(head(&main).await, 2);
}
