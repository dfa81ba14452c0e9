//! Compile-time check that the stores' futures are `Send` for any borrow lifetime, as axum
//! handlers and `tokio::spawn` need. (sqlx's `Migrator::run` once broke this for `open`:
//! "implementation of `Acquire` is not general enough".) If this file stops compiling, a
//! method's future has lost that property.

use std::future::Future;
use std::pin::Pin;

use coffer_proto::{DeviceId, InviteId, Role, SessionId, UserId, WorkspaceId};
use coffer_store::{
    AuditEvent, DataKeyId, MainStore, MfaSettings, NewDevice, NewInvite, NewSession, NewUser,
    NewWorkspace, SessionRevocation, ValuePointer, ValueStore,
};

type Boxed = Pin<Box<dyn Future<Output = ()> + Send>>;

fn main_ops(m: MainStore, e: AuditEvent, u: NewUser, d: NewDevice, s: NewSession) -> Vec<Boxed> {
    let a = Some(e.clone());
    let ws = WorkspaceId::new_random();
    let id = UserId::new_random();
    let nw = NewWorkspace {
        id: ws,
        name: "w".into(),
        mfa_required: false,
    };
    let ni = NewInvite {
        id: InviteId::new_random(),
        workspace_id: ws,
        email: "e@x".into(),
        role: Role::Member,
        invited_by: None,
    };
    let m2 = m.clone();
    let m3 = m.clone();
    let m4 = m.clone();
    let m5 = m.clone();
    let m6 = m.clone();
    let m7 = m.clone();
    let a2 = a.clone();
    let (u2, s2) = (u.clone(), s.clone());
    let a3 = a.clone();
    let a4 = a.clone();
    vec![
        Box::pin(async move {
            let _ = MainStore::open("sqlite://x.db").await;
        }),
        Box::pin(async move {
            let _ = m.create_user(&u, a.as_ref()).await;
            let _ = m.user_by_email("e@x").await;
            let _ = m
                .replace_credentials(id, &u.credentials, SessionRevocation::All, None)
                .await;
            let _ = m
                .set_mfa(
                    id,
                    &MfaSettings {
                        totp_secret: None,
                        enabled: false,
                    },
                    None,
                )
                .await;
            let _ = m.consume_recovery_code(id, b"h", None).await;
            let _ = m.replace_recovery_codes(id, &[b"h".to_vec()], None).await;
            let _ = m.delete_user(id, None).await;
        }),
        Box::pin(async move {
            let _ = m2.create_device(&d, a2.as_ref()).await;
            let _ = m2.create_device_with_session(&d, &s2, None).await;
            let _ = m2.register_account(&u2, &d, Some(&s2), None).await;
            let _ = m2
                .approve_device(DeviceId::new_random(), b"c", &[], None)
                .await;
            let _ = m2.revoke_device(DeviceId::new_random(), None).await;
            let _ = m2.list_devices(id).await;
        }),
        Box::pin(async move {
            let _ = m3.create_session(&s, a3.as_ref()).await;
            let _ = m3.live_session_by_token_hash(b"h", 0).await;
            let _ = m3
                .revoke_user_sessions(id, Some(SessionId::new_random()), None)
                .await;
            let _ = m3.purge_expired_sessions(0, None).await;
        }),
        Box::pin(async move {
            let _ = m4.create_workspace(&nw, id, a4.as_ref()).await;
            let _ = m4.set_member_role(ws, id, Role::Admin, None).await;
            let _ = m4.remove_member(ws, id, None).await;
            let _ = m4.list_workspaces_of_user(id).await;
        }),
        Box::pin(async move {
            let _ = m5.create_invite(&ni, None).await;
            let _ = m5.accept_invite(ni.id, id, None).await;
        }),
        Box::pin(async move {
            let _ = m6.create_server_secret("n", b"v", None).await;
            let _ = m6.rotate_data_key(DataKeyId::random(), b"w", None).await;
            let _ = m6.delete_data_key(DataKeyId::random(), None).await;
        }),
        Box::pin(async move {
            let _ = m7.append_audit(&e).await;
            let _ = m7.list_audit(None, 0, 10).await;
            let _ = m7.verify_audit_chain().await;
            m7.close().await;
        }),
    ]
}

fn value_ops(v: ValueStore) -> Vec<Boxed> {
    let v2 = v.clone();
    vec![
        Box::pin(async move {
            let _ = ValueStore::open("sqlite://v.db").await;
        }),
        Box::pin(async move {
            let p = ValuePointer::random();
            let k = DataKeyId::random();
            let _ = v.put(p, k, b"x").await;
            let _ = v.get(p).await;
            let _ = v.replace(p, k, k, b"y").await;
            let _ = v.pointers_by_key(k, Some(p), 10).await;
            let _ = v.count_by_key(k).await;
            let _ = v.delete(p).await;
        }),
        Box::pin(async move { v2.close().await }),
    ]
}

#[test]
fn store_futures_are_send() {
    // Naming the builders is the check: they only compile if every future is `Send`.
    let builders: [usize; 2] = [
        main_ops as fn(MainStore, AuditEvent, NewUser, NewDevice, NewSession) -> Vec<Boxed>
            as usize,
        value_ops as fn(ValueStore) -> Vec<Boxed> as usize,
    ];
    assert!(builders.iter().all(|&p| p != 0));
}
