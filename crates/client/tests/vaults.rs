//! Vaults, items, sync, conflicts, offline reads and attachments through the SDK against a real
//! `coffer-server` (in process, SQLite, real HTTP on a loopback port).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use coffer_client::model::{Card, Identity};
use coffer_client::profile::Profile;
use coffer_client::{Client, ClientError, ItemData, ItemType};
use coffer_crypto::Password;
use coffer_server::config::{Config, DbUrl, LogFormat};
use coffer_server::throttle::ThrottleConfig;
use tokio::sync::oneshot;

struct Srv {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Srv {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("data"),
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: DbUrl::new(format!("sqlite://{}/data/main.db", dir.path().display())),
            value_store_url: DbUrl::new(format!(
                "sqlite://{}/data/values.db",
                dir.path().display()
            )),
            tls: None,
            insecure_http: false,
            session_ttl: Duration::from_secs(3600),
            data_key_rotation: None,
            log_format: LogFormat::Text,
            revisions_kept: coffer_server::config::DEFAULT_REVISIONS_KEPT,
            max_attachment_size: coffer_server::config::DEFAULT_MAX_ATTACHMENT_SIZE,
            grant_retention: coffer_server::config::DEFAULT_GRANT_RETENTION,
        };
        let state = coffer_server::startup::open_state_with(&config, ThrottleConfig::default())
            .await
            .unwrap();
        let router = coffer_server::app::router(state);
        let bound = coffer_server::serve::Bound::bind(config.listen, None, false)
            .await
            .unwrap();
        let url = bound.url();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            bound
                .serve(router, async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Srv {
            url,
            stop: Some(tx),
            task,
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

fn password() -> Password {
    Password::new("correct horse battery staple 42".into())
}

fn profile(root: &std::path::Path, name: &str, url: &str) -> Client {
    Client::with_profile(Profile::open_in(root, name).unwrap(), Some(url)).unwrap()
}

async fn signed_up(root: &std::path::Path, url: &str, email: &str) -> Client {
    let mut c = profile(root, "a", url);
    c.signup(email, &password(), Some("test")).await.unwrap();
    c
}

fn noop(_: u64, _: u64) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vaults_items_history_and_search() {
    let srv = Srv::start().await;
    let root = tempfile::tempdir().unwrap();
    let mut c = signed_up(root.path(), &srv.url, "alice@example.com").await;

    let v = c.vault_create("Personal", None).await.unwrap();
    assert_eq!(v.name, "Personal");
    assert_eq!(v.items, 0);
    c.vault_create("Work", None).await.unwrap();
    let names: Vec<String> = c
        .vaults()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["Personal", "Work"]);

    // One item of each type.
    let mut login = ItemData::new(ItemType::Login, "GitHub");
    login.username = Some("octo".into());
    login.password = Some("hunter2".into());
    login.urls = vec!["https://github.com".into()];
    login.tags = vec!["dev".into()];
    let created = c.item_create("Personal", login).await.unwrap();
    assert_eq!(created.revision, 1);
    let mut note = ItemData::new(ItemType::Note, "Diary");
    note.notes = Some("dear diary".into());
    c.item_create("Personal", note).await.unwrap();
    let mut secret = ItemData::new(ItemType::Secret, "Stripe key");
    secret.body = Some("sk_live_123".into());
    c.item_create("Work", secret).await.unwrap();
    let mut card = ItemData::new(ItemType::Card, "Visa");
    card.card = Some(Card {
        number: Some("4111111111111111".into()),
        cvv: Some("123".into()),
        ..Card::default()
    });
    c.item_create("Personal", card).await.unwrap();
    let mut id = ItemData::new(ItemType::Identity, "Me");
    id.identity = Some(Identity {
        email: Some("alice@example.com".into()),
        ..Identity::default()
    });
    c.item_create("Personal", id).await.unwrap();

    let got = c.item_get("GitHub", None).await.unwrap();
    assert_eq!(got.data.password.as_deref(), Some("hunter2"));
    assert_eq!(
        c.item_get("Visa", Some("Personal"))
            .await
            .unwrap()
            .data
            .field("card.number")
            .as_deref(),
        Some("4111111111111111")
    );
    // Search on decrypted overviews, case-insensitive.
    let hits = c.items(None, Some("GITHUB.COM")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name, "GitHub");
    assert_eq!(c.items(Some("Personal"), None).await.unwrap().len(), 4);
    assert!(c.items(None, Some("hunter2")).await.unwrap().is_empty());

    // Edit, history, restore.
    let mut edited = got.data.clone();
    edited.password = Some("new-password".into());
    let up = c.item_update("GitHub", None, edited).await.unwrap();
    assert_eq!(up.revision, 2);
    let hist = c.item_history("GitHub", None).await.unwrap();
    assert_eq!(hist.iter().map(|h| h.revision).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(
        hist[1].data.as_ref().unwrap().password.as_deref(),
        Some("hunter2")
    );
    let restored = c.item_restore("GitHub", None, 1).await.unwrap();
    assert_eq!(restored.revision, 3);
    assert_eq!(restored.data.password.as_deref(), Some("hunter2"));

    // Rename, delete, ambiguous names.
    c.vault_rename("Work", "Job").await.unwrap();
    assert!(c.vaults().await.unwrap().iter().any(|v| v.name == "Job"));
    c.item_delete("Diary", None).await.unwrap();
    assert!(matches!(
        c.item_get("Diary", None).await.unwrap_err(),
        ClientError::NotFound { .. }
    ));
    c.vault_create("Personal archive", None).await.unwrap();
    let amb = c.items(Some("Pers"), None).await.unwrap_err();
    assert!(matches!(amb, ClientError::Ambiguous { .. }), "{amb}");
    c.vault_delete("Job").await.unwrap();
    assert_eq!(c.vaults().await.unwrap().len(), 2);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_between_two_profiles_and_offline_reads() {
    let srv = Srv::start().await;
    let root = tempfile::tempdir().unwrap();
    let mut a = signed_up(root.path(), &srv.url, "bob@example.com").await;
    a.vault_create("Shared", None).await.unwrap();
    a.item_create("Shared", ItemData::new(ItemType::Login, "Mail"))
        .await
        .unwrap();
    let mut b = profile(root.path(), "b", &srv.url);
    let outcome = b
        .login("bob@example.com", &password(), Some("second"))
        .await;
    assert!(outcome.is_ok(), "{:?}", outcome.err());
    // B is pending until A approves it with the code B shows
    assert!(b.is_pending().await.unwrap());
    let pending_read = b.item_get("Mail", None).await.unwrap_err().to_string();
    assert!(pending_read.contains("pending approval"), "{pending_read}");
    let waiting = a.pending_devices().await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(b.approval_code().await.unwrap(), None);
    a.approve_start(waiting[0].device_id).await.unwrap();
    let code = b.approval_code().await.unwrap().unwrap();
    let approval = a.approve_finish(waiting[0].device_id, &code).await.unwrap();
    assert_eq!(approval.grants, 1);
    assert!(!b.is_pending().await.unwrap());
    let b_item = b.item_get("Mail", None).await.unwrap();

    // A edits another item: B's write of Mail still goes through (vault moved on only).
    a.item_create("Shared", ItemData::new(ItemType::Note, "Other"))
        .await
        .unwrap();
    // A edits Mail after B last saw it: B's edit (based on revision 1) is a conflict that
    // names the item and both revisions, and writes nothing.
    let mut d = a.item_get("Mail", None).await.unwrap().data;
    d.username = Some("from-a".into());
    assert_eq!(a.item_update("Mail", None, d).await.unwrap().revision, 2);
    let mut mine = b_item.data.clone();
    mine.username = Some("from-b".into());
    let err = b.item_update("Mail", None, mine.clone()).await.unwrap_err();
    let ClientError::Conflict(m) = &err else {
        panic!("expected a conflict, got {err}");
    };
    assert!(
        m.contains("\"Mail\"") && m.contains("revision 1") && m.contains("revision 2"),
        "{m}"
    );
    let now = a.item_get("Mail", None).await.unwrap();
    assert_eq!(now.revision, 2);
    assert_eq!(now.data.username.as_deref(), Some("from-a"));
    // B has synced now: running the edit again applies on revision 2.
    assert_eq!(b.item_update("Mail", None, mine).await.unwrap().revision, 3);

    // Offline: reads serve the cache with a notice; writes fail.
    srv.stop().await;
    let list = a.items(None, None).await.unwrap();
    assert!(list.iter().any(|i| i.name == "Mail"));
    let notice = a.offline_notice().unwrap().to_owned();
    assert!(
        notice.starts_with("offline: showing data cached at "),
        "{notice}"
    );
    let err = a
        .item_create("Shared", ItemData::new(ItemType::Note, "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_round_trip() {
    let srv = Srv::start().await;
    let root = tempfile::tempdir().unwrap();
    let mut c = signed_up(root.path(), &srv.url, "carol@example.com").await;
    c.vault_create("Files", None).await.unwrap();
    c.item_create("Files", ItemData::new(ItemType::Note, "Scans"))
        .await
        .unwrap();
    let src = root.path().join("scan.bin");
    let data: Vec<u8> = (0..10 * 1024 * 1024 + 123)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let last = std::sync::Mutex::new(0u64);
    let att = c
        .attach_add("Scans", None, &src, &|done, _| *last.lock().unwrap() = done)
        .await
        .unwrap();
    assert_eq!(att.size, data.len() as u64);
    assert_eq!(*last.lock().unwrap(), data.len() as u64);
    assert_eq!(c.attach_list("Scans", None).await.unwrap().len(), 1);
    let out = root.path().join("out.bin");
    let n = c
        .attach_get("Scans", None, "scan.bin", &out, &noop)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), data);
    c.attach_delete("Scans", None, "scan.bin").await.unwrap();
    assert!(c.attach_list("Scans", None).await.unwrap().is_empty());
    srv.stop().await;
}
