//! The conformance suite on PostgreSQL: runs when `COFFER_TEST_POSTGRES=1` (CI sets it). It
//! starts one throwaway cluster for this binary (`coffer_store::testing::PgCluster`) and gives
//! each case two fresh databases.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;

use coffer_store::testing::PgCluster;
use conformance::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conformance() {
    if std::env::var("COFFER_TEST_POSTGRES").as_deref() != Ok("1") {
        eprintln!("postgres conformance skipped: set COFFER_TEST_POSTGRES=1 to run it");
        return;
    }
    let cluster = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let port = cluster.port();
    let c = &cluster;
    conformance::run_suite("postgres", |name| async move {
        Env {
            main_url: c.create_database(&format!("{name}_main")).await.unwrap(),
            value_url: c.create_database(&format!("{name}_value")).await.unwrap(),
        }
    })
    .await;

    // The harness stops its cluster when dropped.
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// Not a test on its own: the `sigkill` case runs this binary again with this test selected
/// and the store URLs in the environment; without them it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for the sigkill case"]
async fn crash_writer_child() {
    conformance::crash_child_main().await;
}
