//! # coffer-server
//!
//! The Coffer server (DESIGN §3, §6, §7; HTTP contract in `docs/api.md`): an axum application
//! over the main and value stores, with OPAQUE login, sessions bound to devices, TOTP MFA,
//! workspaces and roles under one policy function, a hash-chained audit log, and the server-side
//! data-key layer over every stored value.
//!
//! Modules, one job each:
//!
//! - [`config`]: flags, `COFFER_*` environment variables, TOML file;
//! - [`error`]: [`ServerError`] and its one mapping to HTTP;
//! - [`extract`]: extractors whose rejections use the uniform error body;
//! - [`policy`]: the role × action policy function;
//! - [`throttle`]: login throttling per account and address;
//! - [`ephemeral`]: single-use, short-lived state (login states, challenges);
//! - [`metrics`]: Prometheus metrics.

#![forbid(unsafe_code)]

pub mod config;
pub mod ephemeral;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod policy;
pub mod throttle;

pub use error::ServerError;
