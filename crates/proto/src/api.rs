//! Request and response bodies of the HTTP API v1 (`docs/api.md`). Binary values travel as
//! unpadded base64url strings ([`B64`]); ids are the typed ids of this crate.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, DeviceState, InviteId, ResetId, Role, SessionId, UserId, WorkspaceId};

/// The OPAQUE `context` both sides bind into the login key exchange (RFC 9807 §6.1).
pub const OPAQUE_LOGIN_CONTEXT: &[u8] = b"coffer.api.v1.login";

/// The message a device signs to receive its server share: this prefix, then the 32-byte
/// challenge, then the 16 bytes of the device id; signed with the domain-separated identity
/// signature under [`DEVICE_SHARE_LABEL`].
pub const DEVICE_SHARE_PREFIX: &[u8] = b"coffer.device-share.v1";

/// The signature label of the device-share proof.
pub const DEVICE_SHARE_LABEL: &str = "device-share";

/// Bytes carried as an unpadded base64url string in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(value_type = String, format = Byte))]
pub struct B64(pub Vec<u8>);

impl core::fmt::Debug for B64 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "B64({} bytes)", self.0.len())
    }
}

impl Serialize for B64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("not unpadded base64url"))
    }
}

/// Argon2id parameters of OPAQUE's key-stretching function, as the client used them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct KsfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// `POST /v1/auth/register/start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RegisterStartRequest {
    /// The account's email (compared case-insensitively).
    pub email: String,
    /// OPAQUE RegistrationRequest.
    pub request: B64,
}

/// Answer to [`RegisterStartRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RegisterStartResponse {
    /// OPAQUE RegistrationResponse.
    pub response: B64,
}

/// The user's keys as the server keeps them: public keys, and private keys sealed so that only
/// the password (through the OPAQUE export key) opens them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AccountKeys {
    /// Identity public keys: Ed25519 ‖ X25519 (64 bytes).
    pub identity_public: B64,
    /// Envelope of the identity seed under the password KEK (`Purpose::AccountBundle`).
    pub bundle: B64,
    /// Signed account state (protocol.md).
    pub account_state: B64,
    /// The KSF parameters the password KEK was made with.
    pub ksf: KsfParams,
}

/// A device the client is adding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NewDevice {
    /// A name people recognise ("laptop", "ci-runner").
    pub name: String,
    /// Device public keys: Ed25519 ‖ X25519 (64 bytes).
    pub public_keys: B64,
    /// Device certificate signed by the identity key, if the client could make one.
    pub certificate: Option<B64>,
    /// At registration: the genesis link of the user's device chain (protocol.md §14.5), which
    /// adds this device, signed by the new identity key. Required by
    /// `POST /v1/auth/register/finish`; ignored at login (a new device is pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_link: Option<B64>,
}

/// `POST /v1/auth/register/finish`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RegisterFinishRequest {
    /// The account's email.
    pub email: String,
    /// OPAQUE RegistrationUpload.
    pub upload: B64,
    /// The account's keys.
    pub account: AccountKeys,
    /// The first device (self-certified, trusted at once).
    pub device: NewDevice,
}

/// Answer to `POST /v1/workspaces/{ws}/members/{user}/password-reset` (protocol.md §20): the
/// one-time token, shown once to the admin who hands it to the member.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PasswordResetCreated {
    /// The reset.
    pub reset_id: ResetId,
    /// The one-time token (secret; never logged).
    pub token: String,
    /// When the token stops working (Unix seconds).
    pub expires_at: i64,
}

impl core::fmt::Debug for PasswordResetCreated {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PasswordResetCreated")
            .field("reset_id", &self.reset_id)
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `POST /v1/auth/reset/start`: OPAQUE registration of the new password, authorised by a reset
/// token.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ResetStartRequest {
    /// The account's email.
    pub email: String,
    /// The reset token from the admin (secret; never logged).
    pub token: String,
    /// OPAQUE RegistrationRequest.
    pub request: B64,
}

impl core::fmt::Debug for ResetStartRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResetStartRequest")
            .field("email", &self.email)
            .field("token", &"***")
            .finish_non_exhaustive()
    }
}

/// Answer to [`ResetStartRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ResetStartResponse {
    /// The account being reset (the new device certificate names it).
    pub user_id: UserId,
    /// OPAQUE RegistrationResponse.
    pub response: B64,
}

/// `POST /v1/auth/reset/finish`: the new password file, the new identity and the new first
/// device. Everything bound to the old identity is revoked in the same transaction.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ResetFinishRequest {
    /// The account's email.
    pub email: String,
    /// The reset token (secret; never logged).
    pub token: String,
    /// OPAQUE RegistrationUpload.
    pub upload: B64,
    /// The new account keys.
    pub account: AccountKeys,
    /// The new first device, certified by the new identity.
    pub device: NewDevice,
}

impl core::fmt::Debug for ResetFinishRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResetFinishRequest")
            .field("email", &self.email)
            .field("token", &"***")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/auth/login/start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LoginStartRequest {
    /// The account's email.
    pub email: String,
    /// OPAQUE CredentialRequest.
    pub request: B64,
}

/// Answer to [`LoginStartRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LoginStartResponse {
    /// Names the server's state until the finish step (60 s, used once).
    pub login_id: String,
    /// OPAQUE CredentialResponse.
    pub response: B64,
    /// The account's KSF parameters (the client enforces its floor).
    pub ksf: KsfParams,
}

/// Which device a login is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceRef {
    /// A device of this user the client already has keys for.
    Existing(DeviceId),
    /// A new device (pending until approved).
    New(NewDevice),
}

/// `POST /v1/auth/login/finish`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LoginFinishRequest {
    /// From [`LoginStartResponse`].
    pub login_id: String,
    /// OPAQUE CredentialFinalization.
    pub finalization: B64,
    /// The device logging in.
    pub device: DeviceRef,
}

/// A fresh session token.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SessionToken {
    /// The session's id (public).
    pub session_id: SessionId,
    /// The bearer token (secret; never logged).
    pub token: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

impl core::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionToken")
            .field("session_id", &self.session_id)
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Answer to a successful registration or login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LoginResult {
    /// The user.
    pub user_id: UserId,
    /// The device the session is bound to.
    pub device_id: DeviceId,
    /// That device's state.
    pub device_state: DeviceState,
    /// The session.
    pub session: SessionToken,
    /// True when the user has MFA on and the session must call `POST /v1/auth/mfa` first.
    pub mfa_pending: bool,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct StatusResponse {
    /// The user.
    pub user_id: UserId,
    /// The user's email.
    pub email: String,
    /// The session's device.
    pub device_id: DeviceId,
    /// The session.
    pub session_id: SessionId,
    /// MFA still to be given for this session.
    pub mfa_pending: bool,
    /// MFA enabled on the account.
    pub mfa_enabled: bool,
    /// Session expiry, Unix seconds.
    pub expires_at: i64,
}

/// `POST /v1/auth/mfa`: one of the two.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MfaVerifyRequest {
    /// A current TOTP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A one-time recovery code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

/// `POST /v1/mfa/confirm`, `POST /v1/mfa/disable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MfaCodeRequest {
    /// A current TOTP code.
    pub code: String,
}

/// Answer to `POST /v1/mfa/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MfaEnrollResponse {
    /// `otpauth://totp/…` with the new secret (shown once, to the user only).
    pub otpauth_uri: String,
}

/// Answer to `POST /v1/mfa/confirm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MfaConfirmResponse {
    /// One-time recovery codes, shown once.
    pub recovery_codes: Vec<String>,
}

/// One row of `GET /v1/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// The session.
    pub session_id: SessionId,
    /// Its device.
    pub device_id: DeviceId,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last used, Unix seconds.
    pub last_used_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Whether this is the caller's session.
    pub current: bool,
}

/// One row of `GET /v1/devices`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceInfo {
    /// The device.
    pub device_id: DeviceId,
    /// Its name.
    pub name: String,
    /// Pending, trusted or revoked.
    pub state: DeviceState,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last seen, Unix seconds.
    pub last_seen_at: i64,
    /// Whether this is the caller's device.
    pub current: bool,
}

/// Answer to `POST /v1/devices/{id}/challenge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceChallenge {
    /// 32 random bytes to sign.
    pub challenge: B64,
}

/// `POST /v1/devices/{id}/share`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceShareRequest {
    /// The challenge received.
    pub challenge: B64,
    /// Ed25519 signature by the device key (protocol.md, "device-share").
    pub signature: B64,
}

/// Answer to [`DeviceShareRequest`].
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceShareResponse {
    /// The device's server share (secret).
    pub share: B64,
}

impl core::fmt::Debug for DeviceShareResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DeviceShareResponse(***)")
    }
}

/// `POST /v1/workspaces`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateWorkspaceRequest {
    /// Unique name.
    pub name: String,
}

/// A workspace as its members see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct WorkspaceInfo {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// The caller's role in it.
    pub role: Role,
}

/// `PUT` and `GET /v1/workspaces/{ws}/policy`: the settings in clear (the server enforces
/// `mfa_required` from them) and the signed policy statement (protocol.md §17.1) that clients
/// act on; clients ignore the clear fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct WorkspacePolicy {
    /// Every member must have MFA enabled.
    pub mfa_required: bool,
    /// Whether members' clients share the vaults they create with the owners and admins.
    #[serde(default)]
    pub admin_recovery: AdminRecovery,
    /// The policy statement signed by an owner's or admin's identity (§17.1); none for a
    /// workspace whose policy was never signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<B64>,
}

/// The workspace's admin-recovery setting (THREATS (a), BW01).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AdminRecovery {
    /// Vaults are shared with admins only by explicit shares.
    #[default]
    Manual,
    /// Each member's client shares every vault it creates in the workspace with the workspace's
    /// trusted owners and admins as managers.
    Auto,
}

impl AdminRecovery {
    /// `manual` or `auto`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AdminRecovery::Manual => "manual",
            AdminRecovery::Auto => "auto",
        }
    }
}

impl std::str::FromStr for AdminRecovery {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "manual" => Ok(AdminRecovery::Manual),
            "auto" => Ok(AdminRecovery::Auto),
            other => Err(format!(
                "unknown admin recovery {other:?}: expected manual or auto"
            )),
        }
    }
}

/// One row of `GET /v1/workspaces/{ws}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MemberInfo {
    /// The member.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their role.
    pub role: Role,
    /// Joined, Unix seconds.
    pub joined_at: i64,
    /// Their identity public keys (64 bytes), to compare as a fingerprint phrase.
    #[serde(default)]
    pub identity_public_keys: Option<B64>,
    /// An admin's attestation of those keys (protocol.md §17), once confirmed. The server's
    /// word means nothing: clients verify it against an identity they trust.
    #[serde(default)]
    pub attestation: Option<B64>,
}

/// `PUT /v1/workspaces/{ws}/members/{user_id}/attestation`: an admin confirms a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AttestRequest {
    /// The attestation (`coffer_crypto::attest`, 217 bytes).
    pub attestation: B64,
}

/// `PUT /v1/workspaces/{ws}/members/{user_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SetRoleRequest {
    /// The new role.
    pub role: Role,
}

/// `POST /v1/workspaces/{ws}/invites`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct InviteRequest {
    /// Who is invited.
    pub email: String,
    /// With which role.
    pub role: Role,
}

/// Answer to `POST /v1/workspaces`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct WorkspaceCreated {
    /// The new workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
}

/// Answer to [`InviteRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct InviteCreated {
    /// The invite.
    pub invite_id: InviteId,
}

/// One row of `GET /v1/invites`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct InviteInfo {
    /// The invite.
    pub invite_id: InviteId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub workspace_name: String,
    /// The role offered.
    pub role: Role,
    /// Email of who invited.
    pub invited_by: String,
}

/// One audit log entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub time: i64,
    /// Workspace, if the event belongs to one.
    pub workspace_id: Option<WorkspaceId>,
    /// Acting user.
    pub actor_user_id: Option<UserId>,
    /// Acting device.
    pub actor_device_id: Option<DeviceId>,
    /// What happened (`auth.login`, `workspace.member_role`, …).
    pub action: String,
    /// What it happened to.
    pub target: String,
    /// Details as JSON text (never secrets).
    pub details: String,
    /// Remote address.
    pub remote_addr: Option<String>,
    /// This entry's chain hash, hex.
    pub hash: String,
}

/// Answer to `GET /v1/audit/verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AuditVerifyResponse {
    /// The whole chain verified.
    pub ok: bool,
    /// Entries checked.
    pub entries: i64,
    /// The first broken link, if any.
    pub first_broken: Option<i64>,
}

/// OpenAPI schemas of the types this module uses from the rest of the crate (ids, roles, states,
/// the error body): all are strings on the wire.
#[cfg(feature = "utoipa")]
mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

    use crate::{
        AccessRequestId, AccessRequestState, ApiError, DeviceId, DeviceState, ErrorCode, InviteId,
        ItemId, RecoveryId, ResetId, Role, SessionId, TeamId, UserId, VaultId, WorkspaceId,
    };

    fn string_schema(
        format: Option<SchemaFormat>,
        values: Option<Vec<&'static str>>,
        description: &'static str,
    ) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(format)
            .enum_values(values)
            .description(Some(description))
            .into()
    }

    macro_rules! id_schema {
        ($($t:ident),*) => {$(
            impl utoipa::PartialSchema for $t {
                fn schema() -> RefOr<Schema> {
                    string_schema(
                        Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)),
                        None,
                        concat!(stringify!($t), " (UUID)"),
                    )
                }
            }
            impl utoipa::ToSchema for $t {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($t))
                }
            }
        )*};
    }

    id_schema!(
        UserId,
        DeviceId,
        SessionId,
        WorkspaceId,
        InviteId,
        VaultId,
        ItemId,
        RecoveryId,
        ResetId,
        TeamId,
        AccessRequestId
    );

    impl utoipa::PartialSchema for Role {
        fn schema() -> RefOr<Schema> {
            string_schema(
                None,
                Some(Role::ALL.iter().map(|r| r.as_str()).collect()),
                "A workspace role",
            )
        }
    }
    impl utoipa::ToSchema for Role {}

    impl utoipa::PartialSchema for DeviceState {
        fn schema() -> RefOr<Schema> {
            string_schema(
                None,
                Some(DeviceState::ALL.iter().map(|s| s.as_str()).collect()),
                "A device's trust state",
            )
        }
    }
    impl utoipa::ToSchema for DeviceState {}

    impl utoipa::PartialSchema for AccessRequestState {
        fn schema() -> RefOr<Schema> {
            string_schema(
                None,
                Some(AccessRequestState::ALL.iter().map(|s| s.as_str()).collect()),
                "An access request's state",
            )
        }
    }
    impl utoipa::ToSchema for AccessRequestState {}

    impl utoipa::PartialSchema for ErrorCode {
        fn schema() -> RefOr<Schema> {
            string_schema(
                None,
                Some(ErrorCode::ALL.iter().map(|c| c.as_str()).collect()),
                "A stable error code",
            )
        }
    }
    impl utoipa::ToSchema for ErrorCode {}

    impl utoipa::PartialSchema for ApiError {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .property("code", <ErrorCode as utoipa::PartialSchema>::schema())
                .required("code")
                .property("message", ObjectBuilder::new().schema_type(Type::String))
                .required("message")
                .description(Some("The body of every error response"))
                .into()
        }
    }
    impl utoipa::ToSchema for ApiError {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_is_unpadded_base64url() {
        let v = serde_json::to_value(B64(vec![0xfb, 0xff])).unwrap();
        assert_eq!(v, "-_8");
        let back: B64 = serde_json::from_value(v).unwrap();
        assert_eq!(back.0, vec![0xfb, 0xff]);
        assert!(serde_json::from_str::<B64>("\"-_8=\"").is_err());
        assert!(serde_json::from_str::<B64>("\"+/8\"").is_err());
        assert_eq!(format!("{:?}", B64(vec![1, 2, 3])), "B64(3 bytes)");
    }

    #[test]
    fn device_ref_wire_form() {
        let id: DeviceId = "67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap();
        let v = serde_json::to_value(DeviceRef::Existing(id)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"existing": "67e55044-10b1-426f-9247-bb680e5fe0c8"})
        );
        let new: DeviceRef = serde_json::from_value(serde_json::json!({"new": {
            "name": "laptop", "public_keys": "AAAA", "certificate": null}}))
        .unwrap();
        assert!(matches!(new, DeviceRef::New(d) if d.name == "laptop"));
    }

    #[test]
    fn secrets_do_not_print() {
        let t = SessionToken {
            session_id: SessionId::new_random(),
            token: "very-secret".into(),
            expires_at: 1,
        };
        assert!(!format!("{t:?}").contains("very-secret"));
        let s = DeviceShareResponse {
            share: B64(vec![42; 32]),
        };
        assert_eq!(format!("{s:?}"), "DeviceShareResponse(***)");
    }

    #[test]
    fn protocol_constants_are_stable() {
        assert_eq!(OPAQUE_LOGIN_CONTEXT, b"coffer.api.v1.login");
        assert_eq!(DEVICE_SHARE_PREFIX, b"coffer.device-share.v1");
        assert_eq!(DEVICE_SHARE_LABEL, "device-share");
    }
}
