//! The one error type of `coffer-client`.
//!
//! A server refusal keeps the server's stable [`ErrorCode`] (see [`ClientError::code`]) so that a
//! caller, a script or a test can branch on it. Messages name what went wrong and how to fix it;
//! they never carry a password, a token, a seed or a share.

use std::path::PathBuf;

use coffer_crypto::CryptoError;
use coffer_proto::ErrorCode;
use thiserror::Error;

/// Errors returned by every function of this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error body `{code, message}`.
    #[error("{message}")]
    Api {
        /// HTTP status of the answer.
        status: u16,
        /// The server's stable error code.
        code: ErrorCode,
        /// The server's message (for people).
        message: String,
    },
    /// The server could not be reached, or its answer could not be read.
    #[error("cannot talk to the server at {url}: {reason}")]
    Transport {
        /// The URL that was requested (no query string, no secrets).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered something that is not what the API promises.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// A cryptographic check or operation failed.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// The server offered key-stretching parameters below the floor this client enforces.
    #[error(
        "the server asked for password hashing parameters below the safe floor \
         (m = {m_kib} KiB, t = {t}; the floor is m >= 19456 KiB, t >= 2): refusing to log in"
    )]
    KsfBelowFloor {
        /// Memory offered, KiB.
        m_kib: u32,
        /// Passes offered.
        t: u32,
    },
    /// The account's signed state did not verify, or does not match what was used to log in.
    #[error("account state rejected: {0}")]
    AccountState(String),
    /// The server served an account state older than one this profile has seen.
    #[error(
        "account state version {got} is older than version {seen} already seen by this \
         profile: refusing a downgrade"
    )]
    Downgrade {
        /// The highest version seen before.
        seen: u8,
        /// The version served.
        got: u8,
    },
    /// The profile has no session: the user must log in first.
    #[error("not logged in (profile \"{profile}\"): run `coffer login`")]
    NotLoggedIn {
        /// The profile's name.
        profile: String,
    },
    /// The device and identity keys are not available: no unlocked state, or it does not open,
    /// or it expired (protocol.md §14.2).
    #[error("locked: run `coffer unlock` (or `coffer login`)")]
    Locked,
    /// No server URL is known for this profile.
    #[error("no server URL: pass --server URL or set COFFER_SERVER")]
    NoServer,
    /// A name given by the user (workspace, member, invite) does not exist.
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        /// What was looked up ("workspace", "member", "invite").
        kind: &'static str,
        /// The name as given.
        name: String,
    },
    /// The user's input is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A file of the profile could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A vault or an attachment failed an integrity check (signed manifest, items against the
    /// manifest, item fields, grants, attachment stream). The message starts with
    /// `vault integrity: ` or `attachment integrity: ` and names the reason; nothing from the
    /// failing vault or attachment is shown or kept.
    #[error("{0}")]
    Integrity(String),
    /// A write was refused because the item changed since the last sync (names the item and the
    /// revisions); nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// A name or prefix matches more than one vault or item.
    #[error("{what} is ambiguous: it matches {}; use an id or a longer name", candidates.join(", "))]
    Ambiguous {
        /// What was looked up ("vault", "item", "attachment").
        what: &'static str,
        /// What matched (names with ids).
        candidates: Vec<String>,
    },
    /// A file of the profile is corrupt.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl ClientError {
    /// The server's stable error code, when the server refused the request; for errors the
    /// client detects itself, the code that best describes them (a missing session is
    /// `unauthorized`, a rejected account state is `forbidden`).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            ClientError::NotLoggedIn { .. } => Some(ErrorCode::Unauthorized),
            ClientError::KsfBelowFloor { .. }
            | ClientError::AccountState(_)
            | ClientError::Downgrade { .. } => Some(ErrorCode::Forbidden),
            ClientError::NotFound { .. } => Some(ErrorCode::NotFound),
            ClientError::Invalid(_) | ClientError::Ambiguous { .. } => {
                Some(ErrorCode::InvalidRequest)
            }
            ClientError::Conflict(_) => Some(ErrorCode::Conflict),
            _ => None,
        }
    }

    /// A stable machine-readable name of the error: the server code when there is one,
    /// otherwise the client-side class (`transport`, `protocol`, `crypto`, `config`).
    pub fn code_str(&self) -> &'static str {
        if let Some(code) = self.code() {
            return code.as_str();
        }
        match self {
            ClientError::Transport { .. } => "transport",
            ClientError::Protocol(_) => "protocol",
            ClientError::Crypto(_) => "crypto",
            ClientError::Integrity(_) => "integrity",
            ClientError::NoServer => "no_server",
            ClientError::Locked => "locked",
            ClientError::Io { .. } | ClientError::Config { .. } => "config",
            _ => "internal",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ClientError::Config {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, ClientError>;
