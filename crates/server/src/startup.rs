//! Startup: from a [`Config`] to a running server. Creates the data folder (0700), opens or
//! creates the KMS key file (refusing one readable by others), opens the two stores (SQLite
//! files by default), loads or creates the OPAQUE server setup (kept in the main store's server
//! secrets, wrapped by the KMS) and the data keyring, then serves.

use std::path::Path;
use std::sync::Arc;

use coffer_crypto::envelope::{self, Envelope};
use coffer_crypto::opaque::ServerSetup;
use coffer_crypto::{Context, Purpose, SymmetricKey};
use coffer_kms::{Kms, LocalFileKms};
use coffer_store::{AuditEvent, MainStore, StoreError, ValueStore};

use crate::config::Config;
use crate::error::ServerError;
use crate::state::{AppState, StateParts, load_keyring};
use crate::throttle::ThrottleConfig;

/// Name of the server secret holding the OPAQUE setup.
pub const OPAQUE_SETUP_SECRET: &str = "opaque-server-setup";

/// Creates the data folder with mode 0700 if it does not exist.
pub fn ensure_data_dir(dir: &Path) -> Result<(), ServerError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| {
        ServerError::Startup(format!("cannot create data folder {}: {e}", dir.display()))
    })
}

/// Refuses a KMS key file that group or others may read or write.
pub fn check_key_file_permissions(path: &Path) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) => {
                let mode = m.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(ServerError::Startup(format!(
                        "KMS key file {} has permissions {mode:04o}; it must be 0600 \
                         (chmod 600 it)",
                        path.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ServerError::Startup(format!(
                    "KMS key file {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Opens everything the server needs and builds its state.
pub async fn open_state(config: &Config) -> Result<AppState, ServerError> {
    open_state_with(config, ThrottleConfig::default()).await
}

/// [`open_state`] with explicit throttle limits (tests lower them).
pub async fn open_state_with(
    config: &Config,
    throttle: ThrottleConfig,
) -> Result<AppState, ServerError> {
    ensure_data_dir(&config.data_dir)?;
    let key_path = config.kms_key_path();
    check_key_file_permissions(&key_path)?;
    let kms: Arc<dyn Kms> = Arc::new(
        LocalFileKms::open_or_create(&key_path)
            .map_err(|e| ServerError::Startup(format!("KMS: {e}")))?,
    );
    let main = MainStore::open(config.database_url.expose())
        .await
        .map_err(|e| ServerError::Startup(format!("main store: {e}")))?;
    let values = ValueStore::open(config.value_store_url.expose())
        .await
        .map_err(|e| ServerError::Startup(format!("value store: {e}")))?;
    let opaque = load_opaque_setup(&main, kms.as_ref()).await?;
    let keyring = load_keyring(&main, kms.as_ref()).await?;
    tracing::info!(
        data_dir = %config.data_dir.display(),
        database = %config.database_url.redacted(),
        value_store = %config.value_store_url.redacted(),
        kms = %kms.describe(),
        "stores open"
    );
    Ok(AppState::new(StateParts {
        main,
        values,
        kms,
        keyring,
        opaque,
        throttle,
        session_ttl: config.session_ttl,
        revisions_kept: config.revisions_kept,
        max_attachment_size: config.max_attachment_size,
    }))
}

fn setup_contexts() -> Result<(Context, Context), ServerError> {
    let kek = Context::new(Purpose::DataKey)
        .with_field(OPAQUE_SETUP_SECRET)
        .map_err(ServerError::internal)?;
    let value = Context::new(Purpose::ServerLayer)
        .with_field(OPAQUE_SETUP_SECRET)
        .map_err(ServerError::internal)?;
    Ok((kek, value))
}

/// Seals the setup: a fresh key wrapped by the KMS, and the setup in an envelope under it.
/// Stored form: `len(wrapped key):u16 BE ‖ wrapped key ‖ envelope`.
fn wrap_setup(setup: &ServerSetup, kms: &dyn Kms) -> Result<Vec<u8>, ServerError> {
    let (kek_ctx, value_ctx) = setup_contexts()?;
    let key = SymmetricKey::generate().map_err(ServerError::internal)?;
    let wrapped = kms.wrap(&key, &kek_ctx).map_err(ServerError::internal)?;
    let sealed =
        envelope::seal(&key, &value_ctx, &setup.to_bytes()).map_err(ServerError::internal)?;
    let len = u16::try_from(wrapped.len()).map_err(ServerError::internal)?;
    let mut out = Vec::with_capacity(2 + wrapped.len() + sealed.as_bytes().len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(sealed.as_bytes());
    Ok(out)
}

fn unwrap_setup(stored: &[u8], kms: &dyn Kms) -> Result<ServerSetup, ServerError> {
    let bad = || ServerError::Startup("stored OPAQUE setup is malformed".into());
    let (len, rest) = stored.split_at_checked(2).ok_or_else(bad)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let (wrapped, sealed) = rest.split_at_checked(len).ok_or_else(bad)?;
    let (kek_ctx, value_ctx) = setup_contexts()?;
    let key = kms
        .unwrap(wrapped, &kek_ctx)
        .map_err(|e| ServerError::Startup(format!("cannot unwrap the OPAQUE setup: {e}")))?;
    let env = Envelope::from_bytes(sealed).map_err(|_| bad())?;
    let plain = envelope::open(&key, &value_ctx, &env)
        .map_err(|e| ServerError::Startup(format!("cannot open the OPAQUE setup: {e}")))?;
    ServerSetup::from_bytes(plain.expose_secret()).map_err(|_| bad())
}

/// Loads the OPAQUE setup, generating and storing it on first start. When several servers start
/// at once, one stores its setup and the others read it.
pub async fn load_opaque_setup(
    main: &MainStore,
    kms: &dyn Kms,
) -> Result<ServerSetup, ServerError> {
    match main.server_secret(OPAQUE_SETUP_SECRET).await {
        Ok(s) => return unwrap_setup(&s.value, kms),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let setup = ServerSetup::generate();
    let stored = wrap_setup(&setup, kms)?;
    let event = AuditEvent::new("server.opaque_setup_created", OPAQUE_SETUP_SECRET);
    match main
        .create_server_secret(OPAQUE_SETUP_SECRET, &stored, Some(&event))
        .await
    {
        Ok(_) => Ok(setup),
        Err(StoreError::Conflict(_)) => {
            let s = main.server_secret(OPAQUE_SETUP_SECRET).await?;
            unwrap_setup(&s.value, kms)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs the server until SIGINT or SIGTERM: opens the state, binds, starts the data-key job,
/// prints the startup line and serves.
pub async fn run(config: Config) -> Result<(), ServerError> {
    crate::serve::check_listen(config.listen, config.tls.as_ref(), config.insecure_http)?;
    let state = open_state(&config).await?;
    let bound =
        crate::serve::Bound::bind(config.listen, config.tls.as_ref(), config.insecure_http).await?;
    if let Some(period) = config.data_key_rotation {
        crate::jobs::spawn_rotation(state.clone(), period);
    }
    crate::jobs::spawn_housekeeping(state.clone(), config.grant_retention);
    let app = crate::app::router(state.clone());
    bound.serve(app, crate::serve::shutdown_signal()).await?;
    state.main.close().await;
    state.values.close().await;
    Ok(())
}
