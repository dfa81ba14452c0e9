//! # coffer-server
//!
//! The Coffer server (DESIGN §3, §6, §7; HTTP contract in `docs/api.md`): an axum application
//! over the main and value stores, with OPAQUE login, sessions bound to devices, TOTP MFA,
//! workspaces and roles under one policy function, a hash-chained audit log, and the server-side
//! data-key layer over every stored value.
//!
//! Modules, one job each:
//!
//! - [`cli`]: `coffer server …` (run, `rotate-data-key`), called by the `coffer` binary;
//! - [`config`]: flags, `COFFER_*` environment variables, TOML file;
//! - [`startup`]: data folder, KMS key file, stores, OPAQUE setup, data keys;
//! - [`serve`]: listening, TLS, the startup line, graceful shutdown;
//! - [`app`]: the router and the generated OpenAPI document;
//! - [`state`]: shared state and the data-key layer over the value store;
//! - [`error`]: [`ServerError`] and its one mapping to HTTP;
//! - [`extract`]: extractors whose rejections use the uniform error body;
//! - [`auth`]: OPAQUE registration and login;
//! - [`session`]: tokens, the [`session::Caller`] extractor, session routes;
//! - [`mfa`]: TOTP enrolment, verification, recovery codes;
//! - [`devices`]: devices and the challenge–response release of server shares;
//! - [`workspaces`]: workspaces, members, invites, policy;
//! - [`teams`]: teams, their links to vaults, and access requests;
//! - [`policy`]: the role × action policy function;
//! - [`vaults`]: local vaults (create, list, delete) and the trusted-device and role checks;
//! - [`items`]: item writes with conflict checks, revision history;
//! - [`sync`]: the streamed binary sync answer;
//! - [`attachments`]: attachment blobs streamed in and out in segments;
//! - [`audit`]: reading and verifying the audit log;
//! - [`jobs`]: data-key rotation and housekeeping;
//! - [`throttle`]: login throttling per account and address;
//! - [`ephemeral`]: single-use, short-lived state (login states, challenges);
//! - [`metrics`]: Prometheus metrics.

#![forbid(unsafe_code)]

pub mod app;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod devices;
pub mod ephemeral;
pub mod error;
pub mod extract;
pub mod item_shares;
pub mod items;
pub mod jobs;
pub mod metrics;
pub mod mfa;
pub mod policy;
pub mod recovery;
pub mod serve;
pub mod session;
pub mod sharing;
pub mod startup;
pub mod state;
pub mod sync;
pub mod teams;
pub mod throttle;
pub mod vaults;
pub mod workspaces;

pub use error::ServerError;
