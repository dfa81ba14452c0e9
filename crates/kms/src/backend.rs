//! The [`Kms`] trait every back end implements, and the public facts that describe one
//! ([`Backend`], [`MasterKeyId`], [`KmsDescription`]).
//!
//! The trait is **synchronous**. The server calls it rarely (at start to unwrap data keys and
//! workspace keys, then on rotation), the local back end is pure CPU, PKCS#11 (`cryptoki`) is a
//! blocking C API, and an AWS KMS back end can block on its own runtime handle. A sync trait stays
//! object-safe (`&dyn Kms`, `Box<dyn Kms>`) without `async_trait` boxing; async callers use
//! `tokio::task::spawn_blocking`.

use core::fmt;

use coffer_crypto::{Context, KeyId, SymmetricKey};

use crate::error::{KmsError, Result};

/// A key management back end: it holds a master key that never leaves it, and wraps and unwraps
/// other keys under it, bound to a [`Context`].
///
/// A wrapped key is opaque bytes in the format of [`crate::wrapped`]: a versioned header naming
/// the back end, the master key id and the wrapped key's [`KeyId`], then a back-end payload.
/// Implementations must make [`unwrap`](Kms::unwrap) fail when the context differs from the one
/// given to [`wrap`](Kms::wrap), when the blob was made under another master key, or when any
/// byte of it was altered.
pub trait Kms: Send + Sync {
    /// The back end and its master key id; no secrets.
    fn describe(&self) -> KmsDescription;

    /// Wraps `key` (material and id) under the master key, bound to `context`.
    fn wrap(&self, key: &SymmetricKey, context: &Context) -> Result<Vec<u8>>;

    /// Unwraps a blob made by [`wrap`](Kms::wrap) with the same `context`. The key keeps its id.
    fn unwrap(&self, wrapped: &[u8], context: &Context) -> Result<SymmetricKey>;
}

/// Which back end made a wrapped key. Codes are stable; retired codes are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// [`LocalFileKms`](crate::LocalFileKms): a master key in a 0600 file.
    LocalFile,
    /// PKCS#11 token (an HSM; SoftHSM2 in tests). Reserved: not implemented yet.
    Pkcs11,
    /// AWS KMS. Reserved: not implemented yet.
    AwsKms,
}

impl Backend {
    /// The stable wire code.
    pub const fn code(self) -> u8 {
        match self {
            Backend::LocalFile => 0x01,
            Backend::Pkcs11 => 0x02,
            Backend::AwsKms => 0x03,
        }
    }

    /// The back end with this wire code.
    pub fn from_code(code: u8) -> Result<Self> {
        match code {
            0x01 => Ok(Backend::LocalFile),
            0x02 => Ok(Backend::Pkcs11),
            0x03 => Ok(Backend::AwsKms),
            other => Err(KmsError::UnknownBackend(other)),
        }
    }

    /// A short stable name for logs and configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::LocalFile => "local-file",
            Backend::Pkcs11 => "pkcs11",
            Backend::AwsKms => "aws-kms",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Longest master key id a wrapped-key header may carry, in bytes (an AWS key ARN fits).
pub const MAX_MASTER_KEY_ID_LEN: usize = 2048;

/// The public identifier of a master key, as its back end names it: the 16-byte [`KeyId`] for
/// the local file, a token object id for PKCS#11, a key ARN for AWS KMS. Opaque bytes, 1 to
/// [`MAX_MASTER_KEY_ID_LEN`] long.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MasterKeyId(Vec<u8>);

impl MasterKeyId {
    /// An id from its bytes; refuses an empty or over-long id.
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        if bytes.is_empty() || bytes.len() > MAX_MASTER_KEY_ID_LEN {
            return Err(KmsError::BadWrappedKey("master key id length out of range"));
        }
        Ok(Self(bytes))
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<KeyId> for MasterKeyId {
    fn from(id: KeyId) -> Self {
        Self(id.0.to_vec())
    }
}

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKeyId({self})")
    }
}

/// What [`Kms::describe`] returns: enough to log, to show in `coffer server status`, and to
/// check that a wrapped key belongs here. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsDescription {
    /// The back end.
    pub backend: Backend,
    /// Its master key's id.
    pub master_key_id: MasterKeyId,
}

impl fmt::Display for KmsDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (master key {})", self.backend, self.master_key_id)
    }
}
