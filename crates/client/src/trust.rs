//! Device trust (protocol.md §14.4): a pending device is approved by a trusted device of its
//! user after a person compared a 6-digit code shown on both:
//!
//! 1. the approver fetches the pending device's public keys, draws a random 32-byte nonce,
//!    keeps both in `approval-<device>.json` (0600) and leaves the nonce on the server
//!    ([`Client::approve_start`]);
//! 2. the new device reads the nonce and shows `approval_code(identity, its keys, nonce)`
//!    ([`Client::approval_code`]);
//! 3. the person types that code on the approver, which computes the code from the keys it
//!    fixed in step 1 and, only if they match, certifies the device with the identity key and
//!    grants it every vault key it holds, sealed to the new device and signed by itself, in one
//!    request ([`Client::approve_finish`]).
//!
//! The nonce is drawn after the keys are fixed, so a server substituting its own key for the
//! device's matches the code with probability 10^-6. A new install that logs in with the
//! password stays **pending** while its user has another trusted device: the server refuses it
//! every vault until one of those devices approves it.

use coffer_crypto::chain::{ChainLink, DeviceCertificate};
use coffer_crypto::fingerprint::approval_code;
use coffer_crypto::secret::random_array;
use coffer_crypto::{PublicKeys, seal_grant};
use coffer_proto::api::{B64, DeviceInfo};
use coffer_proto::vault::{ApprovalNonce, CertifyDeviceRequest, DeviceVaultGrant, UserDevice};
use coffer_proto::{DeviceId, DeviceState, ErrorCode, UserId};
use serde::{Deserialize, Serialize};

use crate::Client;
use crate::error::{ClientError, Result};
use crate::sync::vault_key_context;

/// A pending device of this user, as an approving device sees it.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    /// The device.
    pub device_id: DeviceId,
    /// The name it registered with.
    pub name: String,
    public: PublicKeys,
}

/// The approver's half of an approval in progress (`approval-<device>.json`).
#[derive(Serialize, Deserialize)]
struct ApprovalState {
    device_id: DeviceId,
    public_keys: B64,
    nonce: B64,
}

fn state_file(device: DeviceId) -> String {
    format!("approval-{device}.json")
}

/// What an approval did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval {
    /// The approved device.
    pub device_id: DeviceId,
    /// Vault-key grants issued to it.
    pub grants: usize,
}

/// Normalises a short code as typed (`"123 456"`, `"123456"`, `"123-456"`).
fn normalise(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

impl Client {
    /// The user's devices with their public keys and certificates.
    pub(crate) async fn user_devices(&self, user: UserId) -> Result<Vec<UserDevice>> {
        self.get(&format!("v1/users/{user}/devices")).await
    }

    /// The code this install shows while it waits for approval, once an approver started one
    /// (`None` before): the approver computes the same code only from this install's real keys.
    pub async fn approval_code(&self) -> Result<Option<String>> {
        let ctx = self.vault_ctx()?;
        let r: Result<ApprovalNonce> = self
            .get(&format!("v1/devices/{}/approval", ctx.keys.device_id))
            .await;
        let nonce = match r {
            Ok(n) => n,
            Err(ClientError::Api {
                code: ErrorCode::NotFound,
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let nonce: [u8; 32] = nonce
            .nonce
            .0
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Protocol("approval nonce: not 32 bytes".into()))?;
        Ok(Some(approval_code(
            &ctx.identity,
            &ctx.keys.device.public(),
            &nonce,
        )))
    }

    /// The user's pending devices.
    pub async fn pending_devices(&self) -> Result<Vec<PendingDevice>> {
        let ctx = self.vault_ctx()?;
        let named: Vec<DeviceInfo> = self.get("v1/devices").await?;
        let mut out = Vec::new();
        for d in self.user_devices(ctx.keys.user_id).await? {
            if d.state != DeviceState::Pending {
                continue;
            }
            let public = PublicKeys::from_bytes(&d.public_keys.0).map_err(|_| {
                ClientError::Protocol(format!("device {}: malformed public keys", d.device_id))
            })?;
            let name = named
                .iter()
                .find(|n| n.device_id == d.device_id)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            out.push(PendingDevice {
                device_id: d.device_id,
                name,
                public,
            });
        }
        Ok(out)
    }

    /// Whether this install's device is still pending approval.
    pub async fn is_pending(&self) -> Result<bool> {
        let (Some(user), Some(me)) = (self.config().user_id, self.config().device_id) else {
            return Err(ClientError::NotLoggedIn {
                profile: self.profile().name().to_owned(),
            });
        };
        Ok(self
            .user_devices(user)
            .await?
            .iter()
            .any(|d| d.device_id == me && d.state == DeviceState::Pending))
    }

    /// Step 1 of approving `device`: fixes the keys the server serves for it, draws the nonce,
    /// keeps both locally and leaves the nonce for the new device.
    pub async fn approve_start(&self, device: DeviceId) -> Result<()> {
        let pending = self.pending_devices().await?;
        let Some(p) = pending.iter().find(|p| p.device_id == device) else {
            return Err(ClientError::Invalid(format!(
                "device {device} is not pending approval (see `coffer device list`)"
            )));
        };
        let nonce: [u8; 32] = random_array()?;
        let st = ApprovalState {
            device_id: device,
            public_keys: B64(p.public.to_bytes().to_vec()),
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

    /// Step 3: `code` is what the new device shows; it must equal the code of the keys fixed in
    /// step 1 (otherwise nothing is sent). Then syncs, certifies the device with the identity
    /// key and grants it every vault key this install holds.
    pub async fn approve_finish(&mut self, device: DeviceId, code: &str) -> Result<Approval> {
        let file = state_file(device);
        let Some(raw) = self.profile().read_optional(&file)? else {
            return Err(ClientError::Invalid(format!(
                "no approval of device {device} was started here: run `coffer device approve \
                 {device}` first, then give the code the new device shows"
            )));
        };
        let st: ApprovalState = serde_json::from_slice(&raw)
            .map_err(|_| ClientError::config(self.profile().dir().join(&file), "corrupt"))?;
        let fixed = PublicKeys::from_bytes(&st.public_keys.0)
            .map_err(|_| ClientError::config(self.profile().dir().join(&file), "corrupt keys"))?;
        let nonce: [u8; 32] =
            st.nonce.0.as_slice().try_into().map_err(|_| {
                ClientError::config(self.profile().dir().join(&file), "corrupt nonce")
            })?;
        let ctx = self.vault_ctx()?;
        let expected = approval_code(&ctx.identity, &fixed, &nonce);
        let typed = normalise(code);
        if typed.is_empty() || typed != normalise(&expected) {
            return Err(ClientError::Integrity(format!(
                "the code does not match the keys the server gave for device {device}: nothing \
                 was approved. Check the code again; if the new device really shows another \
                 code, its keys were substituted on the way"
            )));
        }
        let pending = self.pending_devices().await?;
        match pending.iter().find(|p| p.device_id == device) {
            Some(p) if p.public == fixed => {}
            Some(_) => {
                return Err(ClientError::Integrity(format!(
                    "the server now serves other keys for device {device} than when the \
                     approval started: nothing was approved"
                )));
            }
            None => {
                return Err(ClientError::Invalid(format!(
                    "device {device} is no longer pending approval"
                )));
            }
        }
        let mut state = Self::load_cache(&ctx)?;
        self.sync_into(&ctx, &mut state).await?;
        let cert = DeviceCertificate::issue(
            &ctx.keys.identity,
            *ctx.keys.user_id.as_uuid().as_bytes(),
            *device.as_uuid().as_bytes(),
            &fixed,
            crate::model::now_unix().max(0).unsigned_abs(),
        )?;
        // The link that adds the device to this user's chain (protocol.md §14.5), on the chain
        // as verified against this profile's pin.
        let (links, _) = self.own_chain(ctx.keys.user_id, &ctx.identity).await?;
        let link = ChainLink::add(
            links.last(),
            *device.as_uuid().as_bytes(),
            &fixed,
            crate::model::now_unix().max(0).unsigned_abs(),
            &ctx.keys.identity,
        )?;
        let mut grants = Vec::new();
        for v in state.vaults.values() {
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
            &format!("v1/devices/{device}/certificate"),
            &CertifyDeviceRequest {
                certificate: B64(cert.as_bytes().to_vec()),
                grants,
                recovery_proof: None,
                chain_link: Some(B64(link.as_bytes().to_vec())),
            },
        )
        .await?;
        self.pin_link(ctx.keys.user_id, &ctx.identity, &link)?;
        self.profile().remove(&file)?;
        Ok(Approval {
            device_id: device,
            grants: n,
        })
    }
}

/// A member's identity as an admin is about to confirm it.
#[derive(Debug, Clone)]
pub struct MemberIdentity {
    /// The member.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// The fingerprint phrase of the identity keys the server serves for them.
    pub fingerprint: String,
    keys: PublicKeys,
    workspace: coffer_proto::WorkspaceId,
}

/// Compares fingerprint phrases word by word, ignoring case and extra spaces.
fn same_phrase(a: &str, b: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    };
    let (a, b) = (words(a), words(b));
    !a.is_empty() && a == b
}

impl Client {
    /// The identity the server serves for member `email` of `workspace`, with its fingerprint
    /// phrase, for an admin to compare before [`Client::confirm_member`].
    pub async fn member_identity(&self, workspace: &str, email: &str) -> Result<MemberIdentity> {
        let ws = self.resolve_workspace(workspace).await?;
        let m = self.resolve_member(ws.workspace_id, email).await?;
        let keys = m
            .identity_public_keys
            .as_ref()
            .and_then(|k| PublicKeys::from_bytes(&k.0).ok())
            .ok_or_else(|| {
                ClientError::Protocol(format!("member {}: no valid identity keys", m.email))
            })?;
        Ok(MemberIdentity {
            user_id: m.user_id,
            email: m.email,
            fingerprint: coffer_crypto::fingerprint::fingerprint_phrase(&keys),
            keys,
            workspace: ws.workspace_id,
        })
    }

    /// Whether this user confirmed `m` in `workspace`: the stored attestation must verify under
    /// this user's own (pinned) identity and name that workspace, member and their served
    /// keys. `Some(false)`: an attestation by someone else, which this client cannot check yet;
    /// `None`: no attestation.
    pub fn confirmed_by_me(
        &self,
        workspace: coffer_proto::WorkspaceId,
        m: &coffer_proto::api::MemberInfo,
    ) -> Result<Option<bool>> {
        let Some(raw) = &m.attestation else {
            return Ok(None);
        };
        let ctx = self.vault_ctx()?;
        let ok = coffer_crypto::attest::Attestation::from_bytes(&raw.0)
            .ok()
            .filter(|a| a.verify(&ctx.identity).is_ok())
            .filter(|a| {
                a.workspace() == workspace.as_uuid().as_bytes()
                    && a.user() == m.user_id.as_uuid().as_bytes()
                    && m.identity_public_keys.as_ref().map(|k| k.0.as_slice())
                        == Some(a.identity().to_bytes().as_slice())
            })
            .is_some();
        Ok(Some(ok))
    }

    /// Confirms a member: `phrase` is the fingerprint phrase the member reads from their own
    /// device (`coffer fingerprint`); it must equal the phrase of the keys the server served,
    /// or nothing is signed. Then this user's identity key signs an attestation of those keys,
    /// which the server stores with the membership.
    pub async fn confirm_member(&self, member: &MemberIdentity, phrase: &str) -> Result<()> {
        if !same_phrase(phrase, &member.fingerprint) {
            return Err(ClientError::Integrity(format!(
                "the fingerprint phrase does not match the identity the server gave for {}: \
                 nothing was confirmed. If {} really shows another phrase, their key was \
                 substituted on the way",
                member.email, member.email
            )));
        }
        let ctx = self.vault_ctx()?;
        let a = coffer_crypto::attest::Attestation::issue(
            &ctx.keys.identity,
            *ctx.keys.user_id.as_uuid().as_bytes(),
            *member.workspace.as_uuid().as_bytes(),
            *member.user_id.as_uuid().as_bytes(),
            &member.keys,
            crate::model::now_unix().max(0).unsigned_abs(),
        )?;
        self.put(
            &format!(
                "v1/workspaces/{}/members/{}/attestation",
                member.workspace, member.user_id
            ),
            &coffer_proto::api::AttestRequest {
                attestation: B64(a.as_bytes().to_vec()),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn phrases_compare_by_words() {
        use super::same_phrase;
        assert!(same_phrase(
            "apple  Banana cherry",
            " apple banana CHERRY\n"
        ));
        assert!(!same_phrase("apple banana", "apple cherry"));
        assert!(!same_phrase("", ""));
    }

    #[test]
    fn codes_compare_by_digits() {
        assert_eq!(normalise("123 456"), "123456");
        assert_eq!(normalise(" 123-456\n"), "123456");
        assert_eq!(normalise("abc"), "");
    }
}
