//! The one error type of `coffer-kms`.
//!
//! Messages name paths, modes, key ids and what is wrong; they never carry key bytes, file
//! contents or plaintext. A failure to *open* a wrapped key or a sealed value (wrong key, wrong
//! context, altered byte) stays the single [`CryptoError::OpenFailed`] inside
//! [`KmsError::Crypto`], as DESIGN §4 ("one failure") asks.

use std::path::PathBuf;

use coffer_crypto::{CryptoError, KeyId};
use thiserror::Error;

use crate::backend::{Backend, MasterKeyId};

/// Errors returned by every function of this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KmsError {
    /// A wrapped-key blob is malformed (truncated, bad length field, trailing bytes).
    #[error("wrapped key: {0}")]
    BadWrappedKey(&'static str),
    /// A master-key file exists but is not a valid key file. `reason` never quotes the file.
    #[error("master key file {path}: {reason}")]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The data-key rows given to [`DataKeyring::load`](crate::DataKeyring::load) do not make a
    /// keyring (no current key, a duplicate id, a row whose key has another id).
    #[error("data keyring: {0}")]
    BadKeyring(String),
    /// A cryptographic operation failed; every failure to open is `CryptoError::OpenFailed`.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// An I/O operation on a file or directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("read master key file", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A data key cannot be retired while values are still sealed under it.
    #[error("data key {id} is still used by {values} value(s): re-wrap them first")]
    KeyInUse {
        /// The key.
        id: KeyId,
        /// How many values still use it.
        values: u64,
    },
    /// A persisted data key could not be unwrapped or checked while loading the keyring.
    #[error("cannot load data key {id}: {source}")]
    LoadDataKey {
        /// The row's key id.
        id: KeyId,
        /// Why.
        #[source]
        source: Box<KmsError>,
    },
    /// A master-key file is readable or writable by group or others.
    #[error(
        "master key file {path} has mode {mode:04o}: it must not be accessible to group or \
         others (chmod 600 it, then check who may have read it)"
    )]
    PermissionsTooOpen {
        /// The file.
        path: PathBuf,
        /// The permission bits found (`mode & 0o7777`).
        mode: u32,
    },
    /// The current data key cannot be retired; rotate first.
    #[error("data key {0} is the current key: rotate before retiring it")]
    RetireCurrent(KeyId),
    /// A sealed value names a data key this keyring does not hold (retired or never loaded).
    #[error("no data key {0} in the keyring")]
    UnknownDataKey(KeyId),
    /// A wrapped-key blob has a backend code this build does not know.
    #[error("wrapped key: unknown backend code {0:#04x}")]
    UnknownBackend(u8),
    /// A wrapped-key blob has a version this build does not know.
    #[error("wrapped key: unknown version {0}")]
    UnknownVersion(u8),
    /// A wrapped key names another backend than the one asked to unwrap it.
    #[error("wrapped key belongs to the {found} backend, not {expected}")]
    WrongBackend {
        /// The backend asked to unwrap.
        expected: Backend,
        /// The backend named in the blob.
        found: Backend,
    },
    /// A wrapped key was wrapped under another master key than this KMS holds.
    #[error("wrapped key was made under master key {found}; this KMS holds {expected}")]
    WrongMasterKey {
        /// This KMS's master key id.
        expected: MasterKeyId,
        /// The master key id named in the blob.
        found: MasterKeyId,
    },
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, KmsError>;
