//! The application state shared by every handler ([`AppState`]): the two stores, the KMS, the
//! data keyring, the OPAQUE server setup, in-memory login states and challenges, the login
//! throttle and the session lifetime.
//!
//! It also owns the **server-side layer** on the value store: every value the server writes
//! goes through [`AppState::put_sealed`], which seals it with the current data key (bound to its
//! random pointer) before it reaches the store, and [`AppState::open_sealed`] opens it again.

use std::ops::Deref;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use coffer_crypto::opaque::{ServerLoginState, ServerSetup};
use coffer_crypto::{KeyId, SecretVec};
use coffer_kms::{DataKeyRow, DataKeyState, DataKeyring, Kms};
use coffer_proto::{DeviceId, SessionId, UserId};
use coffer_store::{DataKeyId, MainStore, StoreError, ValuePointer, ValueStore};

use crate::ephemeral::{EPHEMERAL_TTL, Ephemeral};
use crate::error::ServerError;
use crate::throttle::{LoginThrottle, ThrottleConfig};

/// The server's OPAQUE state between `login/start` and `login/finish`.
pub struct PendingLogin {
    /// OPAQUE's server state.
    pub state: ServerLoginState,
    /// The normalised email (throttle and audit key).
    pub email: String,
    /// The user, or `None` when the email is unknown (a fake record answered).
    pub user: Option<UserId>,
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Main store.
    pub main: MainStore,
    /// Value store (every value sealed by the data keyring).
    pub values: ValueStore,
    /// The KMS wrapping data keys and the OPAQUE setup.
    pub kms: Arc<dyn Kms>,
    /// Server data keys.
    keyring: RwLock<DataKeyring>,
    /// OPAQUE server setup (secret).
    pub opaque: ServerSetup,
    /// OPAQUE login states by `login_id` (60 s, single use).
    pub logins: Ephemeral<String, PendingLogin>,
    /// Device-share challenges by (device, challenge), with the session that asked (60 s,
    /// single use).
    pub challenges: Ephemeral<(DeviceId, [u8; 32]), SessionId>,
    /// Device-approval nonces by pending device, set by the approving device (10 minutes).
    pub approvals: Ephemeral<DeviceId, [u8; 32]>,
    /// Login throttle.
    pub throttle: LoginThrottle,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Revisions kept per item.
    pub revisions_kept: u32,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_size: u64,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What [`AppState::new`] needs.
pub struct StateParts {
    /// Main store.
    pub main: MainStore,
    /// Value store.
    pub values: ValueStore,
    /// KMS.
    pub kms: Arc<dyn Kms>,
    /// Loaded data keyring.
    pub keyring: DataKeyring,
    /// OPAQUE server setup.
    pub opaque: ServerSetup,
    /// Throttle limits.
    pub throttle: ThrottleConfig,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Revisions kept per item.
    pub revisions_kept: u32,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_size: u64,
}

impl AppState {
    /// Builds the state.
    pub fn new(p: StateParts) -> Self {
        Self(Arc::new(Inner {
            main: p.main,
            values: p.values,
            kms: p.kms,
            keyring: RwLock::new(p.keyring),
            opaque: p.opaque,
            logins: Ephemeral::new(EPHEMERAL_TTL),
            challenges: Ephemeral::new(EPHEMERAL_TTL),
            approvals: Ephemeral::new(std::time::Duration::from_secs(600)),
            throttle: LoginThrottle::new(p.throttle),
            session_ttl: p.session_ttl,
            revisions_kept: p.revisions_kept,
            max_attachment_size: p.max_attachment_size,
        }))
    }

    /// Read access to the data keyring (never held across an `.await`).
    pub fn keyring(&self) -> RwLockReadGuard<'_, DataKeyring> {
        // A poisoned lock means a panic while rotating; the keyring itself is still whole.
        self.0.keyring.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the data keyring (never held across an `.await`).
    pub fn keyring_mut(&self) -> RwLockWriteGuard<'_, DataKeyring> {
        self.0.keyring.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Seals `bytes` under the current data key and stores them under a fresh random pointer.
    pub async fn put_sealed(&self, bytes: &[u8]) -> Result<ValuePointer, ServerError> {
        let pointer = ValuePointer::random();
        let (key_id, sealed) = {
            let ring = self.keyring();
            let sealed = ring
                .seal_value(pointer.as_bytes(), bytes)
                .map_err(ServerError::internal)?;
            (ring.current_key_id(), sealed)
        };
        self.values
            .put(pointer, data_key_id(key_id), &sealed)
            .await?;
        Ok(pointer)
    }

    /// [`Self::put_sealed`] for many values, stored in one value-store transaction (all or
    /// none). Returns their new pointers, in order.
    pub async fn put_sealed_many(
        &self,
        values: &[&[u8]],
    ) -> Result<Vec<ValuePointer>, ServerError> {
        let (key_id, sealed) = {
            let ring = self.keyring();
            let mut sealed = Vec::with_capacity(values.len());
            for bytes in values {
                let pointer = ValuePointer::random();
                let s = ring
                    .seal_value(pointer.as_bytes(), bytes)
                    .map_err(ServerError::internal)?;
                sealed.push((pointer, s));
            }
            (data_key_id(ring.current_key_id()), sealed)
        };
        let rows: Vec<(ValuePointer, DataKeyId, &[u8])> = sealed
            .iter()
            .map(|(p, s)| (*p, key_id, s.as_slice()))
            .collect();
        self.values.put_many(&rows).await?;
        Ok(sealed.into_iter().map(|(p, _)| p).collect())
    }

    /// Reads and opens the value under `pointer`. A value under a data key this process has
    /// not loaded (another server rotated) reloads the keyring from the main store once.
    pub async fn open_sealed(&self, pointer: ValuePointer) -> Result<SecretVec, ServerError> {
        let stored = self.values.get(pointer).await?;
        self.open_stored(pointer, &stored).await
    }

    /// Opens the server layer of a value already read from the value store.
    pub async fn open_stored(
        &self,
        pointer: ValuePointer,
        stored: &coffer_store::StoredValue,
    ) -> Result<SecretVec, ServerError> {
        let key = KeyId(*stored.data_key_id.as_bytes());
        if !self.keyring().contains(key) {
            self.reload_keyring().await?;
        }
        self.keyring()
            .open_value(pointer.as_bytes(), &stored.data)
            .map_err(ServerError::internal)
    }

    /// Deletes a sealed value (a missing one is fine).
    pub async fn delete_sealed(&self, pointer: ValuePointer) -> Result<(), ServerError> {
        match self.values.delete(pointer).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reloads the data keyring from the main store.
    pub async fn reload_keyring(&self) -> Result<(), ServerError> {
        let ring = load_keyring(&self.main, self.kms.as_ref()).await?;
        *self.keyring_mut() = ring;
        Ok(())
    }
}

/// The store's id for a data key.
pub fn data_key_id(id: KeyId) -> DataKeyId {
    DataKeyId::from_bytes(id.0)
}

/// The main store's data-key rows as the keyring reads them (store `retired` = keyring
/// `previous`: still opens values not yet re-wrapped; rows of fully retired keys are deleted).
/// Empty before the first data key.
pub async fn load_keyring_rows(main: &MainStore) -> Result<Vec<DataKeyRow>, ServerError> {
    let keys = main.list_data_keys().await?;
    Ok(keys
        .into_iter()
        .map(|k| DataKeyRow {
            id: KeyId(*k.id.as_bytes()),
            wrapped: k.wrapped_key,
            state: match k.state {
                coffer_store::DataKeyState::Current => DataKeyState::Current,
                coffer_store::DataKeyState::Retired => DataKeyState::Previous,
            },
            created: k.created_at,
        })
        .collect())
}

/// Loads the keyring, creating and persisting the first data key when there is none.
pub async fn load_keyring(main: &MainStore, kms: &dyn Kms) -> Result<DataKeyring, ServerError> {
    let rows = load_keyring_rows(main).await?;
    if !rows.is_empty() {
        return DataKeyring::load(kms, &rows).map_err(ServerError::internal);
    }
    let (ring, row) = DataKeyring::create(kms).map_err(ServerError::internal)?;
    let event = coffer_store::AuditEvent::new("server.data_key_created", row.id.to_hex());
    main.rotate_data_key(data_key_id(row.id), &row.wrapped, Some(&event))
        .await?;
    Ok(ring)
}
