//! Startup and the real listener: key file permissions, the loopback rule, the startup line's
//! URL, plain HTTP and TLS over a real socket, graceful shutdown.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use coffer_server::serve::Bound;
use coffer_server::startup;

use crate::common::config_for;

#[tokio::test]
async fn first_start_creates_data_dir_and_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path());
    let state = startup::open_state(&config).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&config.data_dir), 0o700);
    assert_eq!(mode(&config.kms_key_path()), 0o600);
    assert!(config.data_dir.join("main.db").is_file());
    assert!(config.data_dir.join("values.db").is_file());
    // the OPAQUE setup is stored wrapped, and is the same after a restart
    let stored = state
        .main
        .server_secret(startup::OPAQUE_SETUP_SECRET)
        .await
        .unwrap();
    drop(state);
    let again = startup::open_state(&config).await.unwrap();
    let stored2 = again
        .main
        .server_secret(startup::OPAQUE_SETUP_SECRET)
        .await
        .unwrap();
    assert_eq!(stored.value, stored2.value);
    assert_eq!(again.main.list_data_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn refuses_a_key_file_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path());
    drop(startup::open_state(&config).await.unwrap());
    std::fs::set_permissions(
        config.kms_key_path(),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let err = startup::open_state(&config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("0644") && err.contains("0600"), "{err}");
}

#[tokio::test]
async fn refuses_plain_http_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path());
    config.listen = "0.0.0.0:0".parse().unwrap();
    let err = startup::run(config.clone()).await.unwrap_err().to_string();
    assert!(err.contains("--insecure-http"), "{err}");
    // refused before anything is created
    assert!(!config.data_dir.exists());
}

#[tokio::test]
async fn serves_http_on_port_zero_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path());
    let state = startup::open_state(&config).await.unwrap();
    let bound = Bound::bind(config.listen, None, false).await.unwrap();
    let url = bound.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_ne!(bound.local_addr().port(), 0);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(coffer_server::app::router(state), async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let v: serde_json::Value = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("route=\"/healthz\""), "{metrics}");
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn serves_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();

    let mut config = config_for(dir.path());
    config.tls = Some(coffer_server::config::TlsFiles { cert, key });
    // TLS allows a non-loopback address
    coffer_server::serve::check_listen("0.0.0.0:8700".parse().unwrap(), config.tls.as_ref(), false)
        .unwrap();
    let state = startup::open_state(&config).await.unwrap();
    let bound = Bound::bind(config.listen, config.tls.as_ref(), false)
        .await
        .unwrap();
    let url = bound.url().replace("127.0.0.1", "localhost");
    assert!(url.starts_with("https://"), "{url}");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(coffer_server::app::router(state), async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let resp = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // a missing key file is a clear startup error
    let bad = coffer_server::config::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("missing.pem"),
    };
    let err = Bound::bind(config.listen, Some(&bad), false)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("TLS"), "{err}");
}

#[tokio::test]
async fn rotate_data_key_command() {
    use coffer_server::cli::{ServerCommand, ServerSubcommand};
    use coffer_server::config::ServerArgs;

    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path());
    let state = startup::open_state(&config).await.unwrap();
    let pointer = state.put_sealed(b"a sealed value").await.unwrap();
    let before = state.main.list_data_keys().await.unwrap();
    state.main.close().await;
    state.values.close().await;
    drop(state);

    let cmd = ServerCommand {
        args: ServerArgs {
            data_dir: Some(config.data_dir.clone()),
            database_url: Some(config.database_url.expose().to_owned()),
            value_store_url: Some(config.value_store_url.expose().to_owned()),
            ..ServerArgs::default()
        },
        command: Some(ServerSubcommand::RotateDataKey),
    };
    coffer_server::cli::run(cmd).await.unwrap();

    let state = startup::open_state(&config).await.unwrap();
    let after = state.main.list_data_keys().await.unwrap();
    assert_eq!(after.len(), 1, "the old key is retired");
    assert_ne!(after[0].id, before[0].id);
    let stored = state.values.get(pointer).await.unwrap();
    assert_eq!(
        stored.data_key_id, after[0].id,
        "re-wrapped under the new key"
    );
    let plain = state.open_sealed(pointer).await.unwrap();
    assert_eq!(plain.expose_secret(), b"a sealed value");
}
