//! # coffer-client
//!
//! The Coffer client SDK (DESIGN §8). All client logic lives here — OPAQUE signup and login, the
//! account key bundle and its signed state, profiles and device keys, and one method per API
//! call — so the `coffer` CLI stays thin and a web vault can reuse the same code.
//!
//! - [`Client`]: a profile talking to its server (signup, login with MFA, status, fingerprint,
//!   MFA enrolment, workspaces, members, invites, devices, sessions, audit);
//! - [`profile`]: where a profile keeps its files (`profiles/NAME/`, 0600 files);
//! - [`keystore`]: the device key store (keychain or 0600 file, device KEK, sealed device seed);
//! - [`unlock`]: the unlocked state and the [`unlock::Keys`] commands use;
//! - [`account`]: the signed account state and the account bundle, byte by byte;
//! - [`generate`]: random passwords and EFF-list passphrases with their entropy;
//! - [`model`]: the item model (login, note, secret, card, identity) and its sealed fields;
//! - [`vaults`], [`sync`], [`cache`]: local vaults and items, the verified sync stream and the
//!   encrypted offline cache;
//! - [`teams`]: teams, sharing a vault with a team, access requests (approve, deny);
//! - [`ksf`]: the Argon2id floor the client enforces whatever the server says;
//! - [`http`]: the JSON transport and the uniform error body;
//! - [`ClientError`]: one error type; server refusals keep the server's stable code.
//!
//! ## Ids chosen by the client
//!
//! At signup the client picks the user id and the first device's id and names them in the
//! device certificate (`coffer_crypto::chain`), which the identity key signs; the server takes
//! both ids from the certificate, and the client checks the answer names the same ids.

#![forbid(unsafe_code)]

pub mod account;
pub mod admin_approval;
pub mod attach;
pub mod cache;
mod chains;
mod client;
pub mod error;
pub mod generate;
pub mod http;
pub mod item_share;
pub mod keystore;
pub mod ksf;
pub mod model;
mod net;
pub mod peers;
pub mod profile;
pub mod recovery;
pub mod sharing;
pub mod statements;
pub mod sync;
pub mod teams;
pub mod trust;
pub mod unlock;
pub mod vaults;

pub use client::{
    Client, LOGIN_CONTEXT, LoginOutcome, LoginProgress, MfaAnswer, PendingLogin, Status,
};
pub use error::{ClientError, Result};
pub use model::{AttachmentRef, Card, CustomField, Identity, ItemData, ItemType};
pub use profile::{DEFAULT_PROFILE, Profile};
pub use recovery::{RecoveryCreated, RecoveryEntry, Restored};
pub use sync::SyncReport;
pub use teams::{AccessRequestView, Approved, TeamEntry, TeamShareReport, TeamView};
pub use trust::{Approval, MemberIdentity, PendingDevice};
pub use unlock::Keys;
pub use vaults::{HistoryEntry, Item, ItemSummary, VaultSummary};
