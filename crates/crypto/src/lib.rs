//! # coffer-crypto
//!
//! The cryptographic core of Coffer, pure and free of I/O (DESIGN §2, §4, §5). It owns every
//! format that carries a secret and every rule about keys:
//!
//! - [`secret`]: secret types that zeroize on drop and redact themselves;
//! - [`context`] and [`envelope`]: the one symmetric ciphertext format, bound to its context and
//!   key-committing;
//! - [`key`]: symmetric keys, key ids, per-purpose subkeys;
//! - [`hkdf`]: HKDF-SHA256 and its labels.
//!
//! Formats are specified byte by byte in `docs/protocol.md`; that document and this crate change
//! together.

#![forbid(unsafe_code)]

pub mod chain;
pub mod context;
pub mod envelope;
pub mod error;
pub mod fingerprint;
pub mod grant;
pub mod hkdf;
pub mod identity;
pub mod kdf;
pub mod key;
pub mod mnemonic;
pub mod otp;
pub mod secret;
pub mod stream;
pub(crate) mod wire;

pub use context::{Context, Purpose};
pub use envelope::{Algorithm, Envelope};
pub use error::{CryptoError, Result};
pub use key::{KeyId, SymmetricKey};
pub use secret::{Password, SecretBytes, SecretVec};
pub use stream::{StreamDecryptor, StreamEncryptor, StreamHeader, decrypt_stream, encrypt_stream};
