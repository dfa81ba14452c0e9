//! Wire types shared by the Coffer client and server: typed ids, roles, device states and the
//! uniform API error body.
//!
//! This crate does no I/O. Everything here is serialised with serde; the string forms of ids,
//! roles, states and error codes are part of the wire protocol and never change meaning once
//! released.

pub mod api;
pub mod error;
pub mod ids;
pub mod role;
pub mod state;
pub mod teams;
pub mod vault;

pub use error::{ApiError, ErrorCode, ErrorCodeParseError};
pub use ids::{
    AccessRequestId, DeviceId, GrantId, IdParseError, InviteId, ItemId, RecoveryId, ResetId,
    ServiceAccountId, SessionId, TeamId, UserId, VaultId, WorkspaceId,
};
pub use role::{Role, RoleParseError};
pub use state::{AccessRequestState, DeviceState, InviteState, StateParseError};
pub use vault::{VaultRole, VaultRoleParseError};
