//! Admin approval of a member's new device (DESIGN §4 "or by an admin's device"; protocol.md
//! §14.6).
//!
//! Only a member's own identity key (or one of their trusted devices) can add a device to the
//! member's chain, and an admin holds neither. So an owner's or admin's approval is their
//! **endorsement**, and the member's new device, which opened the member's identity key at its
//! password login, then adds itself:
//!
//! 1. the admin's device ([`Client::approve_member_start`]) resolves the member in a workspace
//!    where the admin is an owner or admin, requires the member's identity to be trusted
//!    ([`crate::peers`]: confirmed by an attestation that chains to this client's root), fixes
//!    the pending device's keys `D` as the server lists them, draws a nonce `r`, keeps both in
//!    `approval-<device>.json` and leaves `r` on the server;
//! 2. the new device shows `approval_code(I, D, r)` with its own identity `I` (as for an
//!    approval by the user's own device, protocol.md §14.4);
//! 3. the admin types that code ([`Client::approve_member_finish`]): computed from the member's
//!    **trusted** identity, the fixed `D` and `r`; only on a match does the admin's identity sign
//!    the endorsement of (workspace, member, `I`, device, `D`), and the admin's device seals the
//!    keys of the vaults both are members of to `D`; one request;
//! 4. the new device ([`Client::complete_admin_approval`], run by `coffer device code`) reads
//!    the endorsement with its chain, checks that it names this user, identity, device and keys,
//!    and that it verifies under the identity of an **owner or admin this device trusts** (the
//!    workspace root pinned on first sight, or an admin attested by a trusted owner or admin);
//!    then it certifies itself with the identity key and appends its own `add` link.
//!
//! The server accepts step 3 only from an owner or admin of a workspace the member is in, and
//! step 4's self-certification only with a stored endorsement: a plain member cannot approve.

use coffer_crypto::chain::{ChainLink, DeviceCertificate};
use coffer_crypto::endorse::{EndorsedDevice, Endorsement};
use coffer_crypto::fingerprint::approval_code;
use coffer_crypto::secret::random_array;
use coffer_crypto::{PublicKeys, seal_grant};
use coffer_proto::api::{B64, MemberInfo};
use coffer_proto::vault::{
    ApprovalNonce, CertifyDeviceRequest, DeviceVaultGrant, EndorseDeviceRequest, UserDevice,
    VaultMemberInfo,
};
use coffer_proto::{DeviceId, DeviceState, Role, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::Client;
use crate::error::{ClientError, Result};
use crate::peers::PeerPins;
use crate::sync::vault_key_context;

/// The admin's half of an approval in progress (`approval-<device>.json`).
#[derive(Serialize, Deserialize)]
struct MemberApprovalState {
    device_id: DeviceId,
    user_id: UserId,
    workspace_id: WorkspaceId,
    public_keys: B64,
    nonce: B64,
}

fn state_file(device: DeviceId) -> String {
    format!("approval-{device}.json")
}

/// What an admin approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberApproval {
    /// The member.
    pub user_id: UserId,
    /// The approved device.
    pub device_id: DeviceId,
    /// Vault-key grants issued to it.
    pub grants: usize,
}

/// A member being approved: who, where, and their trusted identity.
struct Target {
    user_id: UserId,
    email: String,
    workspace: WorkspaceId,
    identity: PublicKeys,
}

fn normalise(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

impl Client {
    /// Finds `email` in a workspace where this user is an owner or admin, with the member's
    /// identity as this device trusts it (or the loud error of an untrusted one).
    async fn approval_target(&self, email: &str) -> Result<Target> {
        let ctx = self.vault_ctx()?;
        let want = email.trim().to_lowercase();
        let mut found_elsewhere = false;
        for ws in self.workspaces().await? {
            let members: Vec<MemberInfo> = self
                .get(&format!("v1/workspaces/{}/members", ws.workspace_id))
                .await?;
            let Some(m) = members
                .iter()
                .find(|m| m.email.to_lowercase() == want || m.user_id.to_string() == want)
            else {
                continue;
            };
            if !matches!(ws.role, Role::Owner | Role::Admin) {
                found_elsewhere = true;
                continue;
            }
            if m.user_id == ctx.keys.user_id {
                return Err(ClientError::Invalid(
                    "approve your own devices with `coffer device approve` (without --user)".into(),
                ));
            }
            let trust = self.trust_in(&ctx, ws.workspace_id).await?;
            let identity = *trust.require(m.user_id, &m.email)?;
            return Ok(Target {
                user_id: m.user_id,
                email: m.email.clone(),
                workspace: ws.workspace_id,
                identity,
            });
        }
        Err(if found_elsewhere {
            ClientError::Invalid(format!(
                "only an owner or admin of a workspace {email} is in can approve their devices"
            ))
        } else {
            ClientError::NotFound {
                kind: "member",
                name: email.to_owned(),
            }
        })
    }

    /// The pending devices of member `email` as the server lists them to this admin.
    pub async fn member_pending_devices(&self, email: &str) -> Result<Vec<DeviceId>> {
        let t = self.approval_target(email).await?;
        let served: Vec<UserDevice> = self.get(&format!("v1/users/{}/devices", t.user_id)).await?;
        Ok(served
            .into_iter()
            .filter(|d| d.state == DeviceState::Pending)
            .map(|d| d.device_id)
            .collect())
    }

    /// Step 1 of approving member `email`'s pending `device`: fixes its keys, draws the nonce,
    /// keeps both locally and leaves the nonce for the new device.
    pub async fn approve_member_start(&self, email: &str, device: DeviceId) -> Result<()> {
        let t = self.approval_target(email).await?;
        let served: Vec<UserDevice> = self.get(&format!("v1/users/{}/devices", t.user_id)).await?;
        let Some(d) = served
            .iter()
            .find(|d| d.device_id == device && d.state == DeviceState::Pending)
        else {
            return Err(ClientError::Invalid(format!(
                "device {device} of {} is not pending approval",
                t.email
            )));
        };
        let keys = PublicKeys::from_bytes(&d.public_keys.0).map_err(|_| {
            ClientError::Protocol(format!("device {device}: malformed public keys"))
        })?;
        let nonce: [u8; 32] = random_array()?;
        let st = MemberApprovalState {
            device_id: device,
            user_id: t.user_id,
            workspace_id: t.workspace,
            public_keys: B64(keys.to_bytes().to_vec()),
            nonce: B64(nonce.to_vec()),
        };
        let json = serde_json::to_vec(&st)
            .map_err(|e| ClientError::Protocol(format!("approval state: {e}")))?;
        self.profile().write_private(&state_file(device), &json)?;
        self.put(
            &format!("v1/devices/{device}/approval"),
            &ApprovalNonce {
                nonce: B64(nonce.to_vec()),
            },
        )
        .await
    }

    /// Step 3: `code` is what member `email`'s new device shows; it must equal the code of the
    /// member's trusted identity and the keys fixed in step 1 (otherwise nothing is sent). Then
    /// signs the endorsement and grants the device the keys of every vault both are members of.
    pub async fn approve_member_finish(
        &mut self,
        email: &str,
        device: DeviceId,
        code: &str,
    ) -> Result<MemberApproval> {
        let file = state_file(device);
        let corrupt = |what: &str| ClientError::config(self.profile().dir().join(&file), what);
        let Some(raw) = self.profile().read_optional(&file)? else {
            return Err(ClientError::Invalid(format!(
                "no approval of device {device} was started here: run `coffer device approve \
                 --user {email} --start` first, then give the code the new device shows"
            )));
        };
        let st: MemberApprovalState =
            serde_json::from_slice(&raw).map_err(|_| corrupt("corrupt"))?;
        let fixed =
            PublicKeys::from_bytes(&st.public_keys.0).map_err(|_| corrupt("corrupt keys"))?;
        let nonce: [u8; 32] = st
            .nonce
            .0
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("corrupt nonce"))?;
        let t = self.approval_target(email).await?;
        if t.user_id != st.user_id || t.workspace != st.workspace_id {
            return Err(ClientError::Invalid(format!(
                "the approval of device {device} was started for another member or workspace"
            )));
        }
        let expected = approval_code(&t.identity, &fixed, &nonce);
        let typed = normalise(code);
        if typed.is_empty() || typed != normalise(&expected) {
            return Err(ClientError::Integrity(format!(
                "the code does not match the keys the server gave for device {device} of {}: \
                 nothing was approved. Check the code again; if the new device really shows \
                 another code, its keys (or the member's identity) were substituted on the way",
                t.email
            )));
        }
        let served: Vec<UserDevice> = self.get(&format!("v1/users/{}/devices", t.user_id)).await?;
        match served.iter().find(|d| d.device_id == device) {
            Some(d) if d.state == DeviceState::Pending && d.public_keys.0 == fixed.to_bytes() => {}
            Some(d) if d.state == DeviceState::Pending => {
                return Err(ClientError::Integrity(format!(
                    "the server now serves other keys for device {device} than when the \
                     approval started: nothing was approved"
                )));
            }
            _ => {
                return Err(ClientError::Invalid(format!(
                    "device {device} is no longer pending approval"
                )));
            }
        }
        let ctx = self.vault_ctx()?;
        let mut state = Self::load_cache(&ctx)?;
        self.sync_into(&ctx, &mut state).await?;
        let endorsement = Endorsement::issue(
            &ctx.keys.identity,
            *ctx.keys.user_id.as_uuid().as_bytes(),
            &EndorsedDevice {
                workspace: *t.workspace.as_uuid().as_bytes(),
                user: *t.user_id.as_uuid().as_bytes(),
                identity: t.identity,
                device_id: *device.as_uuid().as_bytes(),
                device: fixed,
            },
            crate::model::now_unix().max(0).unsigned_abs(),
        )?;
        // The keys of the workspace's vaults this device holds and the member is in.
        let mut grants = Vec::new();
        for v in state.vaults.values() {
            if v.workspace != Some(t.workspace) {
                continue;
            }
            let members: Vec<VaultMemberInfo> =
                self.get(&format!("v1/vaults/{}/members", v.id)).await?;
            if !members.iter().any(|m| m.user_id == t.user_id) {
                continue;
            }
            for (epoch, key) in &v.keys {
                let gctx = vault_key_context(v.workspace_bytes(), v.id_bytes(), *epoch);
                let g = seal_grant(key, &gctx, &fixed, &ctx.keys.device)?;
                grants.push(DeviceVaultGrant {
                    vault_id: v.id,
                    epoch: *epoch,
                    grant: B64(g.into_bytes()),
                });
            }
        }
        let n = grants.len();
        self.post_no_content(
            &format!("v1/devices/{device}/endorsement"),
            &EndorseDeviceRequest {
                workspace_id: t.workspace,
                endorsement: B64(endorsement.as_bytes().to_vec()),
                grants,
            },
        )
        .await?;
        self.profile().remove(&file)?;
        Ok(MemberApproval {
            user_id: t.user_id,
            device_id: device,
            grants: n,
        })
    }

    /// On a pending device: if an owner or admin endorsed this device, checks the endorsement
    /// (it names this user, identity, device and keys, and verifies under the identity of an
    /// owner or admin this device trusts), then certifies this device with the identity key and
    /// appends its `add` link. Returns the endorser's email; `None` when there is no
    /// endorsement yet.
    pub async fn complete_admin_approval(&self) -> Result<Option<String>> {
        let ctx = self.vault_ctx()?;
        let me = ctx.keys.device_id;
        let chain = self.user_chain(ctx.keys.user_id).await?;
        let Some(info) = chain.endorsements.iter().find(|e| e.device_id == me) else {
            return Ok(None);
        };
        let e = Endorsement::from_bytes(&info.endorsement.0)
            .map_err(|e| ClientError::Integrity(format!("the served approval: {e}")))?;
        let device_keys = ctx.keys.device.public();
        let what = e.endorsed();
        if what.user != *ctx.keys.user_id.as_uuid().as_bytes()
            || what.identity != ctx.identity
            || what.device_id != *me.as_uuid().as_bytes()
            || what.device != device_keys
            || what.workspace != *info.workspace_id.as_uuid().as_bytes()
        {
            return Err(ClientError::Integrity(
                "the served approval names another user, identity, device or keys than this \
                 device's: refused, this device stays pending"
                    .into(),
            ));
        }
        let ws = info.workspace_id;
        let members: Vec<MemberInfo> = self.get(&format!("v1/workspaces/{ws}/members")).await?;
        let mut pins = PeerPins::load(self.profile())?;
        let before = pins.clone();
        let trust = pins.trust(ctx.keys.user_id, &ctx.identity, ws, &members);
        if pins != before {
            pins.save(self.profile())?;
        }
        let endorser = UserId::from_uuid(uuid::Uuid::from_bytes(*e.endorser_user()));
        let admin = members
            .iter()
            .find(|m| m.user_id == endorser)
            .filter(|m| matches!(m.role, Role::Owner | Role::Admin));
        let endorser_keys = trust.identities.get(&endorser);
        let (Some(admin), Some(keys)) = (admin, endorser_keys) else {
            return Err(ClientError::Integrity(format!(
                "refusing the approval of this device: its signer ({endorser}) is not an owner \
                 or admin whose identity this device trusts; this device stays pending"
            )));
        };
        e.verify(keys).map_err(|err| {
            ClientError::Integrity(format!(
                "refusing the approval of this device by {}: {err}; this device stays pending",
                admin.email
            ))
        })?;
        let cert = DeviceCertificate::issue(
            &ctx.keys.identity,
            *ctx.keys.user_id.as_uuid().as_bytes(),
            *me.as_uuid().as_bytes(),
            &device_keys,
            crate::model::now_unix().max(0).unsigned_abs(),
        )?;
        let links = crate::chains::parse_links("your own account", &chain.links)?;
        self.check_served_chain(
            ctx.keys.user_id,
            "your own account",
            &ctx.identity,
            &chain.links,
        )?;
        let link = ChainLink::add(
            links.last(),
            *me.as_uuid().as_bytes(),
            &device_keys,
            crate::model::now_unix().max(0).unsigned_abs(),
            &ctx.keys.identity,
        )?;
        self.post_no_content(
            &format!("v1/devices/{me}/certificate"),
            &CertifyDeviceRequest {
                certificate: B64(cert.as_bytes().to_vec()),
                grants: Vec::new(),
                recovery_proof: None,
                chain_link: Some(B64(link.as_bytes().to_vec())),
            },
        )
        .await?;
        self.pin_link(ctx.keys.user_id, &ctx.identity, &link)?;
        Ok(Some(admin.email.clone()))
    }
}
