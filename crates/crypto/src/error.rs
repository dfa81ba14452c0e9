//! The one error type of `coffer-crypto`.
//!
//! Every decode says what is wrong (unknown version, truncated at byte N, …). Every failure to
//! *open* something — a bad tag, a wrong key, a wrong context, a failed key commitment — is the
//! single variant [`CryptoError::OpenFailed`], so that callers cannot build an oracle out of
//! which check failed (DESIGN §4, "one failure").

use thiserror::Error;

/// Errors returned by every function of this crate.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The input is shorter than its format requires.
    #[error("{what} truncated at byte {at}: needs {needed} bytes")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// The offset at which the input ended.
        at: usize,
        /// How many bytes the format needs up to the end of the current field.
        needed: usize,
    },
    /// The version tag is one this build does not know.
    #[error("{what}: unknown version {version}")]
    UnknownVersion {
        /// What was being decoded.
        what: &'static str,
        /// The version tag found.
        version: u8,
    },
    /// The algorithm tag is one this build does not know.
    #[error("{what}: unknown algorithm {alg}")]
    UnknownAlgorithm {
        /// What was being decoded.
        what: &'static str,
        /// The algorithm tag found.
        alg: u8,
    },
    /// The input is well framed but a field has an impossible value.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Text input is not valid base64url.
    #[error("{what}: not valid base64url")]
    BadEncoding {
        /// What was being decoded.
        what: &'static str,
    },
    /// Authenticated decryption failed: bad tag, wrong key, wrong context or a failed key
    /// commitment. Deliberately one variant.
    #[error("authentication failed: the data was altered, or the key or context is wrong")]
    OpenFailed,
    /// A signature did not verify.
    #[error("{what}: signature verification failed")]
    BadSignature {
        /// What carried the signature.
        what: &'static str,
    },
    /// The signer is not the one the caller trusts for this object.
    #[error("{what}: signer is not trusted")]
    UntrustedSigner {
        /// What was signed.
        what: &'static str,
    },
    /// A signed object names a different context from the one the caller expected.
    #[error("{what}: wrong context")]
    WrongContext {
        /// What was opened.
        what: &'static str,
    },
    /// A device chain is not a valid append-only history.
    #[error("device chain: {reason} at link {index}")]
    BadChain {
        /// Index of the first bad link.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// KDF parameters below the floor the client enforces (m ≥ 19 MiB, t ≥ 2; PBKDF2 ≥ 600,000).
    #[error("KDF parameters below the floor: {reason}")]
    KdfBelowFloor {
        /// Which parameter is too low.
        reason: &'static str,
    },
    /// KDF parameters above what this client accepts (a memory or time bomb).
    #[error("KDF parameters out of range: {reason}")]
    KdfOutOfRange {
        /// Which parameter is out of range.
        reason: &'static str,
    },
    /// A mnemonic word is not in the BIP39 English list.
    #[error("unknown word \"{word}\" at position {position}")]
    UnknownWord {
        /// The word as typed (mnemonic words are public list entries, not secrets on their own).
        word: String,
        /// 1-based position in the phrase.
        position: usize,
    },
    /// A mnemonic has the wrong number of words.
    #[error("a recovery key has {expected} words, got {got}")]
    WrongWordCount {
        /// Words expected.
        expected: usize,
        /// Words given.
        got: usize,
    },
    /// A mnemonic's checksum does not match.
    #[error("recovery key checksum failed: a word is wrong or out of order")]
    ChecksumFailed,
    /// A stream ended before its final chunk, or continued after it.
    #[error("stream {reason}")]
    Stream {
        /// What went wrong (truncated, extended, …).
        reason: &'static str,
    },
    /// An I/O error while streaming (the message only; the kind is kept).
    #[error("stream I/O: {0}")]
    Io(String),
    /// An `otpauth://` URI or OTP parameter is invalid.
    #[error("otp: {0}")]
    Otp(&'static str),
    /// A public key is invalid (low order, wrong length, not on the curve).
    #[error("{what}: invalid public key")]
    BadPublicKey {
        /// Which key.
        what: &'static str,
    },
    /// The operating system's random generator failed.
    #[error("random generator failed")]
    Rng,
    /// An OPAQUE step failed for a reason other than authentication (a login that does not
    /// authenticate is always [`CryptoError::OpenFailed`]).
    #[error("opaque: {0}")]
    Opaque(&'static str),
    /// A vault's items do not match its signed manifest, an item's fields do not match its
    /// index, or a manifest does not extend the last one seen (drop, addition, duplicate, replay,
    /// payload swap, rollback, fork, epoch downgrade). Raised only after authentication.
    #[error("vault integrity: {reason}")]
    Integrity {
        /// What is wrong (`item dropped`, `vault rolled back`, …).
        reason: &'static str,
    },
    /// An output length or input length outside what a primitive allows.
    #[error("{0}: length out of range")]
    Length(&'static str),
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, CryptoError>;
