//! Recovery keys (protocol.md §19, DESIGN §5): 24 words that, together with a share only the
//! server holds and releases only to its user's session, re-grant a vault's keys to a new
//! device.
//!
//! - [`Client::recovery_create`] (a trusted device of a vault manager): draws the words and a
//!   32-byte server share, derives the recovery key pair from both, signs an **enrolment** of its
//!   public keys with the identity key, seals every vault-key epoch it holds to the recovery key
//!   (normal grants signed by this device) and uploads enrolment, share and grants. The words are
//!   returned to the caller to show once; they are never stored nor sent.
//! - [`Client::recovery_restore`] (a new, pending device of the same user, after `coffer
//!   login`): finds the recovery key whose enrolment verifies under the **pinned identity** and
//!   whose phrase check matches the words, fetches the share, derives the pair and requires its
//!   public keys to equal the enrolled ones (a swapped share or enrolment is refused with nothing
//!   granted), opens the recovery grants (signer: the identity or a device certified by it), then
//!   certifies this device with the identity key plus a **recovery proof** signed by the
//!   recovery key, granting itself the recovered vault keys in the same request.

use coffer_crypto::chain::DeviceCertificate;
use coffer_crypto::grant::{Grant, open_grant_with};
use coffer_crypto::recovery::{Enrolment, EnrolmentBody, RecoveryProof, phrase_check};
use coffer_crypto::{RecoveryPhrase, SecretBytes, SymmetricKey, recovery_key_pair, seal_grant};
use coffer_proto::api::B64;
use coffer_proto::vault::{
    CertifyDeviceRequest, CreateRecoveryRequest, DeviceVaultGrant, RecoveryGrant, RecoveryKeyInfo,
    RecoveryShare, VaultRole,
};
use coffer_proto::{DeviceState, RecoveryId, VaultId};

use crate::Client;
use crate::cache::CacheState;
use crate::error::{ClientError, Result};
use crate::model::now_unix;
use crate::sync::vault_key_context;
use crate::vaults::{Ctx, resolve, uuid_of, vault_candidates};

/// A recovery key just created: show [`RecoveryCreated::phrase`] once.
#[derive(Debug)]
pub struct RecoveryCreated {
    /// Its id.
    pub recovery_id: RecoveryId,
    /// The vault.
    pub vault_id: VaultId,
    /// The vault's name.
    pub vault_name: String,
    /// The vault-key epochs granted to it.
    pub epochs: Vec<u32>,
    /// The 24 words (a secret: show once, never store).
    pub phrase: RecoveryPhrase,
}

/// A recovery key as listed.
#[derive(Debug, Clone)]
pub struct RecoveryEntry {
    /// Its id.
    pub recovery_id: RecoveryId,
    /// The vault.
    pub vault_id: VaultId,
    /// The vault's name, when this install holds the vault.
    pub vault_name: Option<String>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Epochs granted to it.
    pub epochs: Vec<u32>,
    /// Whether its enrolment verifies under this account's pinned identity.
    pub verified: bool,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The recovery key used.
    pub recovery_id: RecoveryId,
    /// The vault.
    pub vault_id: VaultId,
    /// Its name, once synced.
    pub vault_name: Option<String>,
    /// The vault-key epochs recovered and granted to this device.
    pub epochs: Vec<u32>,
    /// This device.
    pub device_id: coffer_proto::DeviceId,
}

/// Parses and verifies a served enrolment under the pinned identity; it must name this user
/// and the ids it is served with.
fn verified_enrolment(ctx: &Ctx, info: &RecoveryKeyInfo) -> Option<EnrolmentBody> {
    let e = Enrolment::from_bytes(&info.enrolment.0).ok()?;
    e.verify(&ctx.identity).ok()?;
    let b = *e.body();
    (b.user == *ctx.keys.user_id.as_uuid().as_bytes()
        && b.recovery_id == *info.recovery_id.as_uuid().as_bytes()
        && b.vault == *info.vault_id.as_uuid().as_bytes())
    .then_some(b)
}

impl Client {
    /// Creates a recovery key of `vault` (id, name or prefix); see the module documentation.
    pub async fn recovery_create(&mut self, vault: &str) -> Result<RecoveryCreated> {
        let (ctx, state) = self.read_state().await?;
        let candidates = vault_candidates(&state);
        let vk = *resolve("vault", vault, &candidates)?;
        let v = state.vaults.get(&vk).ok_or_else(|| ClientError::NotFound {
            kind: "vault",
            name: vault.to_owned(),
        })?;
        if v.role != VaultRole::Manager {
            return Err(ClientError::Invalid(format!(
                "only a manager of vault \"{}\" can create its recovery key",
                v.record.name
            )));
        }
        if v.keys.is_empty() {
            return Err(ClientError::Invalid(format!(
                "this install holds no key of vault \"{}\"",
                v.record.name
            )));
        }
        let phrase = RecoveryPhrase::generate()?;
        let share = SecretBytes::<32>::random()?;
        let recovery = recovery_key_pair(&phrase, &share)?;
        let recovery_id = RecoveryId::new_random();
        let ws = v.workspace_bytes();
        let vid = v.id_bytes();
        let enrolment = Enrolment::issue(
            &ctx.keys.identity,
            EnrolmentBody {
                recovery_id: *recovery_id.as_uuid().as_bytes(),
                user: *ctx.keys.user_id.as_uuid().as_bytes(),
                vault: vid,
                workspace: ws,
                recovery_keys: recovery.public(),
                phrase_check: phrase_check(&phrase)?,
                created_at: now_unix().max(0).unsigned_abs(),
            },
        )?;
        let mut grants = Vec::with_capacity(v.keys.len());
        for (epoch, key) in &v.keys {
            let g = seal_grant(
                key,
                &vault_key_context(ws, vid, *epoch),
                &recovery.public(),
                &ctx.keys.device,
            )?;
            grants.push(RecoveryGrant {
                epoch: *epoch,
                grant: B64(g.into_bytes()),
            });
        }
        let epochs = grants.iter().map(|g| g.epoch).collect();
        let _: RecoveryKeyInfo = self
            .post(
                &format!("v1/vaults/{}/recovery", v.id),
                &CreateRecoveryRequest {
                    recovery_id,
                    enrolment: B64(enrolment.as_bytes().to_vec()),
                    server_share: B64(share.expose_secret().to_vec()),
                    grants,
                },
            )
            .await?;
        Ok(RecoveryCreated {
            recovery_id,
            vault_id: v.id,
            vault_name: v.record.name.clone(),
            epochs,
            phrase,
        })
    }

    /// Grants to this account's recovery keys the vault-key epochs this device holds that they
    /// lack (after a rotation, by anyone). Only keys whose enrolment verifies under the pinned
    /// identity are topped up, sealed to the recovery key *in the enrolment*, never to a key
    /// the server serves beside it. Returns the number of grants issued.
    pub(crate) async fn recovery_top_up_in(&self, ctx: &Ctx, state: &CacheState) -> Result<usize> {
        let keys: Vec<RecoveryKeyInfo> = self.get("v1/recovery").await?;
        let mut issued = 0;
        for info in &keys {
            let Some(body) = verified_enrolment(ctx, info) else {
                continue;
            };
            let Some(v) = state.vaults.get(info.vault_id.as_uuid().as_bytes()) else {
                continue;
            };
            let mut grants = Vec::new();
            for (epoch, key) in &v.keys {
                if info.grants.iter().any(|g| g.epoch == *epoch) {
                    continue;
                }
                let g = seal_grant(
                    key,
                    &vault_key_context(v.workspace_bytes(), v.id_bytes(), *epoch),
                    &body.recovery_keys,
                    &ctx.keys.device,
                )?;
                grants.push(RecoveryGrant {
                    epoch: *epoch,
                    grant: B64(g.into_bytes()),
                });
            }
            if grants.is_empty() {
                continue;
            }
            issued += grants.len();
            self.post_no_content(
                &format!("v1/recovery/{}/grants", info.recovery_id),
                &coffer_proto::vault::AddRecoveryGrants { grants },
            )
            .await?;
        }
        Ok(issued)
    }

    /// This account's recovery keys, each checked against the pinned identity.
    pub async fn recovery_list(&self) -> Result<Vec<RecoveryEntry>> {
        let ctx = self.vault_ctx()?;
        let state = Self::load_cache(&ctx)?;
        let infos: Vec<RecoveryKeyInfo> = self.get("v1/recovery").await?;
        Ok(infos
            .iter()
            .map(|i| RecoveryEntry {
                recovery_id: i.recovery_id,
                vault_id: i.vault_id,
                vault_name: state
                    .vaults
                    .get(i.vault_id.as_uuid().as_bytes())
                    .map(|v| v.record.name.clone()),
                created_at: i.created_at,
                epochs: i.grants.iter().map(|g| g.epoch).collect(),
                verified: verified_enrolment(&ctx, i).is_some(),
            })
            .collect())
    }

    /// Restores `vault` (an id, id prefix or name) on this new, pending device with `phrase`;
    /// see the module documentation.
    pub async fn recovery_restore(
        &mut self,
        vault: &str,
        phrase: &RecoveryPhrase,
    ) -> Result<Restored> {
        let ctx = self.vault_ctx()?;
        let infos: Vec<RecoveryKeyInfo> = self.get("v1/recovery").await?;
        if infos.is_empty() {
            return Err(ClientError::Invalid(
                "this account has no recovery key: the words recover nothing without the \
                 recovery key's account (log in as the user who created it)"
                    .into(),
            ));
        }
        let q = vault.trim().to_ascii_lowercase();
        let by_id: Vec<&RecoveryKeyInfo> = infos
            .iter()
            .filter(|i| !q.is_empty() && i.vault_id.to_string().starts_with(&q))
            .collect();
        let candidates: Vec<&RecoveryKeyInfo> = if by_id.is_empty() {
            infos.iter().collect()
        } else {
            by_id
        };
        let check = phrase_check(phrase)?;
        let mut forged = 0usize;
        let mut found = None;
        for info in candidates {
            match verified_enrolment(&ctx, info) {
                None => forged += 1,
                Some(b) if b.phrase_check == check => {
                    found = Some((info, b));
                    break;
                }
                Some(_) => {}
            }
        }
        let Some((info, body)) = found else {
            let mut msg = format!(
                "these words are not a recovery key of vault \"{vault}\" for this account: \
                 check them again"
            );
            if forged > 0 {
                msg.push_str(&format!(
                    " ({forged} recovery enrolment(s) served by the server do not verify under \
                     your identity and were ignored)"
                ));
            }
            return Err(ClientError::Invalid(msg));
        };
        if !self.is_pending().await? {
            return Err(ClientError::Invalid(
                "this device is already trusted: recovery makes a new, pending device trusted \
                 (log in on the new install first)"
                    .into(),
            ));
        }
        let served: RecoveryShare = self
            .post(
                &format!("v1/recovery/{}/share", info.recovery_id),
                &serde_json::json!({}),
            )
            .await?;
        let share = SecretBytes::<32>::from_slice(&served.share.0)
            .map_err(|_| ClientError::Protocol("recovery share: not 32 bytes".into()))?;
        let recovery = recovery_key_pair(phrase, &share)?;
        drop(share);
        if recovery.public() != body.recovery_keys {
            return Err(ClientError::Integrity(format!(
                "recovery refused: the server's share does not match the recovery key enrolled \
                 (and signed by your identity) for vault {}: the server swapped the share or \
                 the enrolment. Nothing was granted",
                info.vault_id
            )));
        }
        // Signers of the recovery grants: the identity, or a device it certified.
        let mut trusted = vec![*ctx.identity.signing()];
        for d in self.user_devices(ctx.keys.user_id).await? {
            if d.state == DeviceState::Revoked {
                continue;
            }
            let Some(c) = &d.certificate else { continue };
            let Ok(cert) = DeviceCertificate::from_bytes(&c.0) else {
                continue;
            };
            if cert.verify(&ctx.identity).is_ok()
                && cert.user_id() == ctx.keys.user_id.as_uuid().as_bytes()
                && cert.device_id() == d.device_id.as_uuid().as_bytes()
            {
                trusted.push(*cert.device_keys().signing());
            }
        }
        let mut keys: Vec<(u32, SymmetricKey)> = Vec::with_capacity(info.grants.len());
        for g in &info.grants {
            let grant = Grant::from_bytes(&g.grant.0).map_err(|e| {
                ClientError::Integrity(format!("recovery grant of epoch {}: {e}", g.epoch))
            })?;
            let key = open_grant_with(
                &grant,
                &recovery,
                |s| trusted.iter().any(|t| t == s),
                &vault_key_context(body.workspace, body.vault, g.epoch),
            )
            .map_err(|e| {
                ClientError::Integrity(format!(
                    "recovery grant of epoch {} refused: {e}. Nothing was granted",
                    g.epoch
                ))
            })?;
            keys.push((g.epoch, key));
        }
        if keys.is_empty() {
            return Err(ClientError::Protocol(
                "the recovery key has no grant: nothing to recover".into(),
            ));
        }
        let me = ctx.keys.device_id;
        let device_keys = ctx.keys.device.public();
        let cert = DeviceCertificate::issue(
            &ctx.keys.identity,
            *ctx.keys.user_id.as_uuid().as_bytes(),
            *me.as_uuid().as_bytes(),
            &device_keys,
            now_unix().max(0).unsigned_abs(),
        )?;
        let proof = RecoveryProof::issue(
            &recovery,
            body.recovery_id,
            body.user,
            *me.as_uuid().as_bytes(),
            &device_keys,
        )?;
        let vault_id = info.vault_id;
        let mut grants = Vec::with_capacity(keys.len());
        for (epoch, key) in &keys {
            let g = seal_grant(
                key,
                &vault_key_context(body.workspace, body.vault, *epoch),
                &device_keys,
                &ctx.keys.device,
            )?;
            grants.push(DeviceVaultGrant {
                vault_id,
                epoch: *epoch,
                grant: B64(g.into_bytes()),
            });
        }
        // The link that adds this device to the chain, signed by the identity (protocol.md
        // §14.5), built on the chain as verified against this profile's pin.
        let (links, _) = self.own_chain(ctx.keys.user_id, &ctx.identity).await?;
        let link = coffer_crypto::chain::ChainLink::add(
            links.last(),
            *me.as_uuid().as_bytes(),
            &device_keys,
            now_unix().max(0).unsigned_abs(),
            &ctx.keys.identity,
        )?;
        self.post_no_content(
            &format!("v1/devices/{me}/certificate"),
            &CertifyDeviceRequest {
                certificate: B64(cert.as_bytes().to_vec()),
                grants,
                recovery_proof: Some(B64(proof.as_bytes().to_vec())),
                chain_link: Some(B64(link.as_bytes().to_vec())),
            },
        )
        .await?;
        self.pin_link(ctx.keys.user_id, &ctx.identity, &link)?;
        // Now trusted: sync, which opens the grants this device just gave itself.
        let mut state = Self::load_cache(&ctx)?;
        self.sync_into(&ctx, &mut state).await?;
        let vault_name = state
            .vaults
            .get(&uuid_of(&body.vault).into_bytes())
            .map(|v| v.record.name.clone());
        Ok(Restored {
            recovery_id: info.recovery_id,
            vault_id,
            vault_name,
            epochs: keys.iter().map(|(e, _)| *e).collect(),
            device_id: me,
        })
    }
}
