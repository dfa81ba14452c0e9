//! The conformance suite on SQLite, in a temp folder (always runs).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;

use conformance::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conformance() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().to_path_buf();
    conformance::run_suite("sqlite", |name| {
        let dir = base.join(name);
        async move {
            Env {
                main_url: format!("sqlite://{}/main.db", dir.display()),
                value_url: format!("sqlite://{}/values.db", dir.display()),
            }
        }
    })
    .await;
}

/// Not a test on its own: the `sigkill` case runs this binary again with this test selected
/// and the store URLs in the environment; without them it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for the sigkill case"]
async fn crash_writer_child() {
    conformance::crash_child_main().await;
}
