//! # coffer-crypto
//!
//! The cryptographic core of Coffer, pure and free of I/O (DESIGN §2, §4, §5). It owns every
//! format that carries a secret and every rule about keys:
//!
//! - [`secret`]: secret types that zeroize on drop and redact themselves;
//! - [`context`] and [`envelope`]: the one symmetric ciphertext format, bound to its context and
//!   key-committing; [`key`]: symmetric keys, key ids, per-purpose subkeys; [`hkdf`]: HKDF-SHA256;
//! - [`identity`]: Ed25519 + X25519 key pairs from one seed, domain-separated signatures;
//! - [`grant`]: HPKE key grants signed by the granter (signcryption);
//! - [`chain`]: device certificates and the signed, append-only device chain;
//! - [`fingerprint`]: fingerprint phrases and short codes people compare;
//! - [`kdf`]: Argon2id with the enforced floor, PBKDF2 for imports, HMAC-SHA256;
//! - [`mnemonic`]: 24-word recovery phrases and the recovery key pair; [`recovery`]: the signed
//!   recovery enrolment and the recovery proof that certifies a new device;
//! - [`stream`]: chunked streaming AEAD for attachments;
//! - [`otp`]: HOTP/TOTP and `otpauth://` URIs;
//! - [`item`]: items of a local vault: item keys, per-field subkeys, field-set index, attachments;
//! - [`manifest`]: the signed vault manifest that catches dropped, added, replayed or rolled-back
//!   items.
//!
//! Formats are specified byte by byte in `docs/protocol.md`; that document and this crate change
//! together.

#![forbid(unsafe_code)]

pub mod attest;
pub mod chain;
pub mod context;
pub mod endorse;
pub mod envelope;
pub mod error;
pub mod fingerprint;
pub mod grant;
pub mod hkdf;
pub mod identity;
pub mod item;
pub mod kdf;
pub mod key;
pub mod manifest;
pub mod mnemonic;
pub mod opaque;
pub mod otp;
pub mod recovery;
pub mod secret;
pub mod statement;
pub mod stream;
pub(crate) mod wire;

pub use chain::{ChainLink, DeviceCertificate, TrustedDevices, verify_chain};
pub use context::{Context, Purpose};
pub use envelope::{Algorithm, Envelope};
pub use error::{CryptoError, Result};
pub use grant::{Grant, open_grant, seal_grant};
pub use identity::{KeyPair, PublicKeys};
pub use item::{
    ItemLocation, SealedItem, open_field, open_item, open_item_with_key, seal_field, seal_item,
    seal_item_with_key, unwrap_item_key, wrap_item_key,
};
pub use kdf::{Argon2Params, derive_key, pbkdf2_sha256};
pub use key::{KeyId, SymmetricKey};
pub use manifest::{
    Manifest, ManifestBody, ManifestEntry, ManifestHead, check_items, verify_manifest,
};
pub use mnemonic::{RecoveryPhrase, recovery_key_pair, recovery_seed};
pub use otp::{Hotp, OtpAlgorithm, OtpUri, Totp};
pub use secret::{Password, SecretBytes, SecretVec};
pub use stream::{StreamDecryptor, StreamEncryptor, StreamHeader, decrypt_stream, encrypt_stream};
