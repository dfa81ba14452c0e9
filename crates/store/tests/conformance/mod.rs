//! The conformance suite: one story of plain async cases, run unchanged against SQLite
//! (`tests/sqlite.rs`) and PostgreSQL (`tests/postgres.rs`). Each case gets fresh, empty
//! databases for both stores.

// Test support: failing loudly is the point here.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod chain;
mod crash;
mod entities;
mod recovery;
mod resets;
mod sharing;
mod teams;
mod values;
mod vaults;

use std::future::Future;
use std::pin::Pin;

use coffer_proto::UserId;
use coffer_store::{AuditEvent, Credentials, MainStore, NewUser, User, ValueStore};

pub(crate) use crash::crash_child_main;

/// The URLs of a case's two fresh databases.
#[derive(Clone, Debug)]
pub(crate) struct Env {
    /// Main store URL.
    pub(crate) main_url: String,
    /// Value store URL.
    pub(crate) value_url: String,
}

impl Env {
    /// Opens the main store.
    pub(crate) async fn main(&self) -> MainStore {
        MainStore::open(&self.main_url).await.unwrap()
    }

    /// Opens the value store.
    pub(crate) async fn value(&self) -> ValueStore {
        ValueStore::open(&self.value_url).await.unwrap()
    }
}

type Case = fn(Env) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every case, by name.
pub(crate) fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("users", |e| Box::pin(entities::users(e))),
        ("recovery_codes", |e| Box::pin(entities::recovery_codes(e))),
        ("recovery_code_race", |e| {
            Box::pin(entities::recovery_code_race(e))
        }),
        ("devices", |e| Box::pin(entities::devices(e))),
        ("atomic_signup_and_device_login", |e| {
            Box::pin(entities::atomic_signup_and_device_login(e))
        }),
        ("sessions", |e| Box::pin(entities::sessions(e))),
        ("workspaces_and_members", |e| {
            Box::pin(entities::workspaces_and_members(e))
        }),
        ("last_owner_race", |e| {
            Box::pin(entities::last_owner_race(e))
        }),
        ("invites", |e| Box::pin(entities::invites(e))),
        ("server_secrets_and_data_keys", |e| {
            Box::pin(entities::server_secrets_and_data_keys(e))
        }),
        ("rollback_leaves_nothing", |e| {
            Box::pin(entities::rollback_leaves_nothing(e))
        }),
        ("debug_hides_secrets", |e| {
            Box::pin(entities::debug_hides_secrets(e))
        }),
        ("audit_basics", |e| Box::pin(audit::basics(e))),
        ("audit_concurrent_appends", |e| {
            Box::pin(audit::concurrent_appends(e))
        }),
        ("audit_tampered_field", |e| {
            Box::pin(audit::tampered_field(e))
        }),
        ("audit_deleted_rows", |e| Box::pin(audit::deleted_rows(e))),
        ("values", |e| Box::pin(values::values(e))),
        ("migrations_and_durability", |e| {
            Box::pin(values::migrations_and_durability(e))
        }),
        ("vaults_and_items", |e| {
            Box::pin(vaults::vaults_and_items(e))
        }),
        ("concurrent_item_writes", |e| {
            Box::pin(vaults::concurrent_item_writes(e))
        }),
        ("blob_segments", |e| Box::pin(vaults::blob_segments(e))),
        ("recovery_keys", |e| Box::pin(recovery::recovery_keys(e))),
        ("sharing", |e| Box::pin(sharing::sharing(e))),
        ("password_resets", |e| Box::pin(resets::password_resets(e))),
        ("item_shares", |e| Box::pin(sharing::item_shares(e))),
        ("big_rotation", |e| Box::pin(sharing::big_rotation(e))),
        ("grant_mailbox", |e| Box::pin(sharing::grant_mailbox(e))),
        ("teams", |e| Box::pin(teams::teams(e))),
        ("device_chain", |e| Box::pin(chain::device_chain(e))),
        ("sigkill_loses_no_acknowledged_write", |e| {
            Box::pin(crash::sigkill(e))
        }),
    ]
}

/// Runs every case (or those whose name contains `$COFFER_CASE`), each in its own task with
/// fresh databases from `make_env`, and fails listing every case that failed.
pub(crate) async fn run_suite<F, Fut>(backend: &str, mut make_env: F)
where
    F: FnMut(&'static str) -> Fut,
    Fut: Future<Output = Env>,
{
    let filter = std::env::var("COFFER_CASE").ok();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, case) in cases() {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let env = make_env(name).await;
        let started = std::time::Instant::now();
        let outcome = tokio::spawn(case(env)).await;
        ran += 1;
        match outcome {
            Ok(()) => eprintln!("{backend}: {name} ... ok ({:.1?})", started.elapsed()),
            Err(e) => {
                eprintln!("{backend}: {name} ... FAILED: {e}");
                failed.push(name);
            }
        }
    }
    assert!(ran > 0, "no case matched COFFER_CASE={filter:?}");
    assert!(failed.is_empty(), "{backend}: failed cases: {failed:?}");
}

/// Credentials with recognisable contents.
pub(crate) fn credentials(tag: &str) -> Credentials {
    Credentials {
        opaque_record: format!("opaque-{tag}").into_bytes(),
        account_key_bundle: format!("bundle-{tag}").into_bytes(),
        identity_public_keys: format!("identity-{tag}").into_bytes(),
        signed_account_state: format!("state-{tag}").into_bytes(),
    }
}

/// Creates a user `email` with recognisable credentials and no audit event.
pub(crate) async fn make_user(main: &MainStore, email: &str) -> User {
    main.create_user(
        &NewUser {
            id: UserId::new_random(),
            email: email.to_owned(),
            credentials: credentials(email),
        },
        None,
    )
    .await
    .unwrap()
}

/// An audit event `action` with target `target`.
pub(crate) fn ev(action: &str, target: impl ToString) -> AuditEvent {
    AuditEvent::new(action, target.to_string())
}

/// The audit chain head's seq.
pub(crate) async fn head(main: &MainStore) -> u64 {
    main.audit_head().await.unwrap().0
}
