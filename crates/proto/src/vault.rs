//! Wire types of vaults, items, sync and attachments (`docs/protocol.md` §14–§16).
//!
//! Everything the server stores about a local vault's content is ciphertext the client made:
//! the vault's own record (item [`VAULT_RECORD_ITEM`]), every item as a sealed item
//! (`coffer_crypto::item::SealedItem`), vault-key grants, and the signed manifest in its
//! *compact* form (header and signature without the entry list, which the client rebuilds from
//! the items it holds). The server sees ids, revisions, epochs, counters and sizes; nothing else.
//!
//! The sync answer is not JSON but a stream of binary frames ([`SyncFrameKind`]), so it can be
//! written row by row and compresses its framing; its layout is in protocol.md §15.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::B64;
use crate::ids::{DeviceId, ItemId, UserId, VaultId, WorkspaceId};

/// The item id of a vault's own record (its encrypted name and description): the nil UUID.
/// It is written, revised and covered by the manifest like any item, and cannot be deleted.
pub const VAULT_RECORD_ITEM: ItemId = ItemId::from_uuid(uuid::Uuid::nil());

/// The first key epoch of a vault.
pub const FIRST_EPOCH: u32 = 1;

/// Content type of the sync answer.
pub const SYNC_CONTENT_TYPE: &str = "application/vnd.coffer.sync.v1";

/// Content type of attachment uploads and downloads.
pub const ATTACHMENT_CONTENT_TYPE: &str = "application/octet-stream";

/// A member's role in one vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum VaultRole {
    /// Reads items.
    Viewer,
    /// Reads and writes items.
    Editor,
    /// Reads and writes items, renames, shares and deletes the vault.
    Manager,
}

impl VaultRole {
    /// Every vault role, from the least to the most powerful.
    pub const ALL: [VaultRole; 3] = [VaultRole::Viewer, VaultRole::Editor, VaultRole::Manager];

    /// The stable string form: `viewer|editor|manager`.
    pub const fn as_str(self) -> &'static str {
        match self {
            VaultRole::Viewer => "viewer",
            VaultRole::Editor => "editor",
            VaultRole::Manager => "manager",
        }
    }

    /// The role's code in signed role statements (protocol.md §18.6): 1 viewer, 2 editor,
    /// 3 manager.
    pub const fn code(self) -> u8 {
        match self {
            VaultRole::Viewer => 1,
            VaultRole::Editor => 2,
            VaultRole::Manager => 3,
        }
    }

    /// The role of a statement code, if it is one.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(VaultRole::Viewer),
            2 => Some(VaultRole::Editor),
            3 => Some(VaultRole::Manager),
            _ => None,
        }
    }

    /// Whether this role may write items.
    pub const fn can_write(self) -> bool {
        matches!(self, VaultRole::Editor | VaultRole::Manager)
    }
}

/// A string that is not one of the vault role names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vault role {value:?}: expected one of viewer, editor, manager")]
pub struct VaultRoleParseError {
    /// The rejected input (cut to 64 characters).
    pub value: String,
}

impl fmt::Display for VaultRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VaultRole {
    type Err = VaultRoleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VaultRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| VaultRoleParseError {
                value: s.chars().take(64).collect(),
            })
    }
}

impl Serialize for VaultRole {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VaultRole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who a vault-key grant is sealed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum GrantRecipient {
    /// One device's X25519 key.
    Device(DeviceId),
    /// A user's identity X25519 key (opened after a password login on a new device).
    User(UserId),
}

/// A vault-key grant as uploaded and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct VaultGrant {
    /// To whom it is sealed.
    pub recipient: GrantRecipient,
    /// The vault key epoch it carries.
    pub epoch: u32,
    /// The grant bytes (`coffer_crypto::grant`, protocol.md §5.3).
    pub grant: B64,
}

/// `POST /v1/vaults`: a new local vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateVaultRequest {
    /// Chosen by the client (it is in every context of the vault).
    pub vault_id: VaultId,
    /// The workspace, or none for a personal vault (workspace id 16 zero bytes in contexts).
    pub workspace_id: Option<WorkspaceId>,
    /// The vault's record ([`VAULT_RECORD_ITEM`], revision 1, epoch [`FIRST_EPOCH`]), sealed.
    pub record: B64,
    /// The genesis manifest (counter 0, one entry: the record), compact form.
    pub manifest: B64,
    /// Vault-key grants: at least one to the creating device and one to its user.
    pub grants: Vec<VaultGrant>,
    /// Workspace vaults: the creator's role statement naming itself manager, signed by its
    /// identity (the vault's root, protocol.md §18.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_statement: Option<B64>,
}

/// A vault as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct VaultInfo {
    /// Its id.
    pub vault_id: VaultId,
    /// Its workspace (none: personal).
    pub workspace_id: Option<WorkspaceId>,
    /// The current key epoch.
    pub epoch: u32,
    /// The counter of its current manifest.
    pub counter: u64,
    /// The caller's role in it.
    pub role: VaultRole,
    /// Unix seconds.
    pub created_at: i64,
}

/// `POST /v1/vaults/{id}/items`: write (create, edit, restore or delete) one item.
///
/// The write applies only if the vault's manifest counter is still `base_counter` and the
/// item's revision is still `base_revision` (0: the item must not exist); otherwise `409
/// conflict` and nothing changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct WriteItemRequest {
    /// The item (client-chosen for a new one).
    pub item_id: ItemId,
    /// The vault manifest counter the write is based on.
    pub base_counter: u64,
    /// The item revision the write is based on (0 for a new item).
    pub base_revision: u64,
    /// The new revision (`base_revision + 1`).
    pub revision: u64,
    /// The key epoch the item is sealed under.
    pub epoch: u32,
    /// The sealed item; `None` deletes the item (the manifest no longer lists it).
    pub sealed: Option<B64>,
    /// The new manifest (counter `base_counter + 1`), compact form.
    pub manifest: B64,
}

/// Answer to [`WriteItemRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct WriteItemResponse {
    /// The vault's manifest counter now.
    pub counter: u64,
    /// The item's revision now.
    pub revision: u64,
}

/// One kept revision of an item (`GET /v1/vaults/{v}/items/{i}/revisions`, newest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ItemRevision {
    /// The revision number.
    pub revision: u64,
    /// Its key epoch.
    pub epoch: u32,
    /// The vault manifest counter of the write that made it.
    pub counter: u64,
    /// The sealed item of that revision; `None` for a deletion.
    pub sealed: Option<B64>,
    /// Unix seconds (server clock; informative only, never trusted for ordering).
    pub created_at: i64,
}

/// `POST /v1/sync`: what the client already holds, per vault: the manifest counter it last
/// verified (0 or absent: send everything).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SyncRequest {
    /// Vault id → counter held.
    pub vaults: BTreeMap<VaultId, u64>,
}

/// The frame kinds of the sync stream (protocol.md §15): `kind:u8 ‖ len:u32 BE ‖ payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFrameKind {
    /// JSON [`SyncVault`]; the vault's item frames follow it.
    Vault,
    /// `item id:16 ‖ revision:u64 ‖ epoch:u32 ‖ counter:u64 ‖ flags:u8 ‖ sealed item bytes`
    /// (flags bit 0: deleted, then no sealed bytes follow).
    Item,
    /// `vault id:16`: the vault is gone (deleted, or the caller lost access): forget it.
    Gone,
    /// JSON [`SyncEnd`]; always the last frame (a stream without it was cut).
    End,
}

impl SyncFrameKind {
    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        match self {
            SyncFrameKind::Vault => 0x01,
            SyncFrameKind::Item => 0x02,
            SyncFrameKind::Gone => 0x03,
            SyncFrameKind::End => 0xFF,
        }
    }

    /// The kind of a wire byte.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(SyncFrameKind::Vault),
            0x02 => Some(SyncFrameKind::Item),
            0x03 => Some(SyncFrameKind::Gone),
            0xFF => Some(SyncFrameKind::End),
            _ => None,
        }
    }
}

/// Largest sync frame payload a client accepts (a sealed item is far smaller).
pub const SYNC_MAX_FRAME: u32 = 16 * 1024 * 1024;

/// Length of an item frame's fixed part.
pub const SYNC_ITEM_HEADER_LEN: usize = 16 + 8 + 4 + 8 + 1;

/// Item frame flag: the item is deleted.
pub const SYNC_ITEM_DELETED: u8 = 0x01;

/// The header frame of one vault in the sync stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SyncVault {
    /// Its id.
    pub vault_id: VaultId,
    /// Its workspace (none: personal).
    pub workspace_id: Option<WorkspaceId>,
    /// The current key epoch.
    pub epoch: u32,
    /// The counter of the current manifest.
    pub counter: u64,
    /// The caller's role.
    pub role: VaultRole,
    /// True when the item frames that follow are every live item (the client held nothing, or
    /// held a counter the server does not have); false when they are only the changes after
    /// the client's counter, tombstones included.
    pub full: bool,
    /// The current manifest, compact form.
    pub manifest: B64,
    /// The vault-key grants addressed to the calling device or its user, every epoch.
    pub grants: Vec<VaultGrant>,
    /// Public keys and certificates of the devices that signed the manifest or the grants
    /// (so the client can check them against the identity it pinned).
    pub signers: Vec<SignerDevice>,
    /// When a signer belongs to another user: the vault's workspace members with their
    /// identity keys and attestations, from which the client decides whom it trusts
    /// (protocol.md §18.1). Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<crate::api::MemberInfo>,
    /// A member was removed or a device revoked since the last rotation: a manager's device
    /// should rotate the vault (protocol.md §18.4). A hint, not an authority.
    #[serde(default)]
    pub rotation_due: bool,
    /// The members' signed role statements (protocol.md §18.6); clients accept a manifest only
    /// from a device whose user holds a verified editor or manager statement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<MemberRoleStatement>,
    /// The device chain of each user in `signers` (protocol.md §14.5): a signer is trusted only
    /// while its user's verified chain trusts its keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signer_chains: Vec<SignerChain>,
}

/// A device that signed something in a vault, with its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SignerDevice {
    /// The device.
    pub device_id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// Its certificate (protocol.md §5.4), signed by its user's identity key.
    pub certificate: B64,
}

/// The last frame of a sync stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SyncEnd {
    /// Vault frames sent.
    pub vaults: u64,
    /// Item frames sent.
    pub items: u64,
}

/// `POST /v1/devices/{id}/certificate`: a pending device of the caller's user, certified by the
/// user's identity key (protocol.md §14.4). Sent by a trusted device of the user after comparing
/// short codes (the approval), with grants of the vault keys it holds to the new device; or by
/// the pending device itself when its user has no trusted device (then without grants).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CertifyDeviceRequest {
    /// The device certificate (protocol.md §5.4).
    pub certificate: B64,
    /// Vault-key grants sealed to the new device and signed by the approving device (or, with
    /// a recovery proof, by the new device itself).
    #[serde(default)]
    pub grants: Vec<DeviceVaultGrant>,
    /// A recovery proof (protocol.md §19.2): lets a pending device certify itself although its
    /// user has trusted devices, when a recovery key of that user vouches for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_proof: Option<B64>,
    /// The link that adds this device to its user's device chain (protocol.md §14.5), signed by
    /// the identity key or a device the chain trusts. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_link: Option<B64>,
}

/// `POST /v1/devices/{id}/revoke`: revokes a device of the caller's user (protocol.md §14.5).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RevokeDeviceRequest {
    /// The link that revokes the device in its user's chain, signed by the identity key or a
    /// device the chain trusts. Required for a device the chain trusts; none for a device the
    /// chain never added (a pending one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_link: Option<B64>,
}

/// `GET /v1/users/{id}/chain`: a user's device chain and the admin endorsements of their
/// devices (protocol.md §14.5, §14.6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UserChain {
    /// The user.
    pub user_id: UserId,
    /// Every link in seq order (protocol.md §5.5), from the genesis.
    pub links: Vec<B64>,
    /// Endorsements of the user's devices by owners or admins (§14.6), oldest first.
    #[serde(default)]
    pub endorsements: Vec<DeviceEndorsementInfo>,
}

/// One stored admin endorsement of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceEndorsementInfo {
    /// The endorsed device.
    pub device_id: DeviceId,
    /// The workspace in which the endorser is an owner or admin.
    pub workspace_id: WorkspaceId,
    /// The endorsing user.
    pub endorser_id: UserId,
    /// The signed endorsement (protocol.md §14.6).
    pub endorsement: B64,
}

/// `POST /v1/devices/{id}/endorsement`: an owner's or admin's approval of a member's pending
/// device (protocol.md §14.6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct EndorseDeviceRequest {
    /// The workspace in which the caller is an owner or admin and the device's user a member.
    pub workspace_id: WorkspaceId,
    /// The endorsement, signed by the caller's identity key.
    pub endorsement: B64,
    /// Vault-key grants the admin's device issues to the new device (vaults both are members
    /// of), sealed to the device's X25519 key and signed by the admin's device.
    #[serde(default)]
    pub grants: Vec<DeviceVaultGrant>,
}

/// The device chain of one user whose device signed something in a vault (sync frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SignerChain {
    /// The user.
    pub user_id: UserId,
    /// Every link of their chain in seq order.
    pub links: Vec<B64>,
}

/// `PUT`/`GET /v1/devices/{id}/approval`: the approver's random nonce of a device approval
/// (protocol.md §14.4), 32 bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ApprovalNonce {
    /// 32 random bytes drawn by the approving device after it fixed the device's keys.
    pub nonce: B64,
}

/// One vault-key grant to a device being approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceVaultGrant {
    /// The vault.
    pub vault_id: VaultId,
    /// The vault key epoch it carries.
    pub epoch: u32,
    /// The grant bytes (protocol.md §5.3).
    pub grant: B64,
}

/// A device of a user with its certificate (`GET /v1/users/{id}/devices`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UserDevice {
    /// The device.
    pub device_id: DeviceId,
    /// Its state.
    pub state: crate::state::DeviceState,
    /// Its public keys (protocol.md §5.1).
    pub public_keys: B64,
    /// Its certificate, once certified.
    pub certificate: Option<B64>,
}

/// One recovery grant: the vault key of `epoch`, sealed to a recovery key (protocol.md §19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RecoveryGrant {
    /// The vault key epoch it carries.
    pub epoch: u32,
    /// The grant bytes (protocol.md §5.3), sealed to the recovery X25519 key.
    pub grant: B64,
}

/// `POST /v1/vaults/{id}/recovery`: a new recovery key of the vault (protocol.md §19.1).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateRecoveryRequest {
    /// Chosen by the client; also written in the enrolment.
    pub recovery_id: crate::RecoveryId,
    /// The enrolment, signed by the caller's identity key (protocol.md §19.1).
    pub enrolment: B64,
    /// The server's half of the recovery secret: 32 random bytes.
    pub server_share: B64,
    /// The vault keys, one grant per epoch.
    pub grants: Vec<RecoveryGrant>,
}

impl std::fmt::Debug for CreateRecoveryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateRecoveryRequest")
            .field("recovery_id", &self.recovery_id)
            .field("server_share", &"***")
            .field("grants", &self.grants.len())
            .finish_non_exhaustive()
    }
}

/// A recovery key as its user sees it (`GET /v1/recovery`, `GET /v1/vaults/{id}/recovery`):
/// never the server share.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RecoveryKeyInfo {
    /// Its id.
    pub recovery_id: crate::RecoveryId,
    /// The vault it recovers.
    pub vault_id: VaultId,
    /// The signed enrolment.
    pub enrolment: B64,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// The recovery grants, every epoch.
    pub grants: Vec<RecoveryGrant>,
}

/// `POST /v1/recovery/{id}/grants`: grants of further epochs (after a key rotation).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AddRecoveryGrants {
    /// The new grants.
    pub grants: Vec<RecoveryGrant>,
}

/// `POST /v1/recovery/{id}/share`: the server share, to the session of the enrolling user only.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RecoveryShare {
    /// 32 bytes.
    pub share: B64,
}

impl std::fmt::Debug for RecoveryShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryShare(***)")
    }
}

/// Answer to an attachment upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AttachmentStored {
    /// Bytes stored (the encrypted stream's length).
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_roles_have_stable_forms() {
        for r in VaultRole::ALL {
            assert_eq!(r.as_str().parse::<VaultRole>().unwrap(), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<VaultRole>(&json).unwrap(), r);
        }
        assert!("Editor".parse::<VaultRole>().is_err());
        assert!(VaultRole::Editor.can_write() && !VaultRole::Viewer.can_write());
    }

    #[test]
    fn frame_codes_round_trip() {
        for k in [
            SyncFrameKind::Vault,
            SyncFrameKind::Item,
            SyncFrameKind::Gone,
            SyncFrameKind::End,
        ] {
            assert_eq!(SyncFrameKind::from_code(k.code()), Some(k));
        }
        assert_eq!(SyncFrameKind::from_code(0x00), None);
    }

    #[test]
    fn grant_recipient_json_form() {
        let u = UserId::from_uuid(uuid::Uuid::nil());
        let json = serde_json::to_string(&GrantRecipient::User(u)).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"user","id":"00000000-0000-0000-0000-000000000000"}"#
        );
    }
}

/// A member of a vault (`GET /v1/vaults/{id}/members`), with what a sharer needs to seal grants
/// to them: identity keys and trusted devices with certificates. The client trusts none of it
/// until the identity chains to an attested one (protocol.md §18.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct VaultMemberInfo {
    /// The member.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their role in the vault.
    pub role: VaultRole,
    /// Added, Unix seconds.
    pub added_at: i64,
    /// The role statement a manager signed for this membership (protocol.md §18.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<B64>,
}

/// A member's signed role statement in a vault frame (protocol.md §18.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MemberRoleStatement {
    /// The member.
    pub user_id: UserId,
    /// The statement (218 bytes).
    pub statement: B64,
}

/// `PUT /v1/vaults/{id}/members/{user_id}`: share a vault with a user (or change their role),
/// with the grants of the vault keys to the user's identity and trusted devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ShareVaultRequest {
    /// The role.
    pub role: VaultRole,
    /// Grants to the user and their devices (none when only the role changes).
    #[serde(default)]
    pub grants: Vec<VaultGrant>,
    /// When the share approves a pending access request (protocol.md §18.5): its id. The
    /// membership is recorded and the request marked approved in one transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<crate::ids::AccessRequestId>,
    /// The role statement signed by the caller's identity (protocol.md §18.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<B64>,
}

/// `POST /v1/vaults/{id}/grants`: grants of existing epochs (replication).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AddGrantsRequest {
    /// The grants; each recipient must be a member of the vault or a device of one.
    pub grants: Vec<VaultGrant>,
}

/// A principal entitled to a vault's current key who has no grant of it
/// (`GET /v1/replications`): a trusted device of a member, or a member's identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PendingReplication {
    /// The vault.
    pub vault_id: VaultId,
    /// Its workspace.
    pub workspace_id: Option<WorkspaceId>,
    /// Its current epoch, the one missing.
    pub epoch: u32,
    /// The member.
    pub user_id: UserId,
    /// Their device, or none for their identity key.
    pub device_id: Option<DeviceId>,
    /// The device's certificate (none for an identity).
    pub certificate: Option<B64>,
}

/// One re-sealed item of a rotation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RotatedItemRequest {
    /// The item.
    pub item_id: ItemId,
    /// The revision re-sealed; it becomes `base_revision + 1` under the new epoch.
    pub base_revision: u64,
    /// The item sealed with a fresh item key under the new vault key.
    pub sealed: B64,
}

/// `POST /v1/vaults/{id}/rotate`: move a vault to a new key epoch (protocol.md §18.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RotateVaultRequest {
    /// The new epoch (current + 1).
    pub epoch: u32,
    /// The manifest counter the client rotated from.
    pub base_counter: u64,
    /// The new manifest (counter + 1, new epoch, every item at its new revision).
    pub manifest: B64,
    /// Grants of the new key to every remaining member's identity and trusted devices.
    pub grants: Vec<VaultGrant>,
    /// Every live item, re-sealed.
    pub items: Vec<RotatedItemRequest>,
}

/// Answer to a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RotateVaultResponse {
    /// The new counter.
    pub counter: u64,
    /// The new epoch.
    pub epoch: u32,
}

/// `PUT /v1/vaults/{id}/items/{item}/shares/{user_id}`: share one item alone (protocol.md §21)
/// with a member of the vault's workspace: its item key of the current epoch, sealed to the
/// user's identity and trusted devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ShareItemRequest {
    /// The grants (context `ItemGrant`, this vault, item and the item's current epoch).
    pub grants: Vec<VaultGrant>,
}

/// The certificate of a device that signed a grant, with its user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct GrantSigner {
    /// The signing device's user.
    pub user_id: crate::UserId,
    /// Its device certificate (protocol.md §5.4).
    pub certificate: B64,
}

/// One item shared with the caller alone (`GET /v1/shared-items`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SharedItem {
    /// The vault holding it.
    pub vault_id: VaultId,
    /// The vault's workspace.
    pub workspace_id: crate::WorkspaceId,
    /// The item.
    pub item_id: crate::ItemId,
    /// Its current revision.
    pub revision: u64,
    /// Its current key epoch.
    pub epoch: u32,
    /// Its sealed bytes (protocol.md §12.3).
    pub sealed: B64,
    /// The item-key grants to the caller's identity and devices.
    pub grants: Vec<VaultGrant>,
    /// Certificates of the devices that signed those grants.
    pub signers: Vec<GrantSigner>,
}

/// `GET /v1/vaults/{id}/item-shares`: who an item of the vault is shared with alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ItemShareInfo {
    /// The item.
    pub item_id: crate::ItemId,
    /// The user it is shared with.
    pub user_id: crate::UserId,
}

/// One acknowledged grant: the caller's device holds the key of `epoch` of `vault_id`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AckedGrant {
    /// The vault.
    pub vault_id: VaultId,
    /// The key epoch.
    pub epoch: u32,
}

/// `POST /v1/grants/ack` (protocol.md §18.3a).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AckGrantsRequest {
    /// The grants to the calling device now held (at most 10,000).
    pub grants: Vec<AckedGrant>,
}

/// Answer to [`AckGrantsRequest`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AckGrantsResponse {
    /// How many were newly acknowledged.
    pub acknowledged: u64,
}
