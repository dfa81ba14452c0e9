//! Sharing local vaults, replication and key rotation (docs/protocol.md §18).
//!
//! - **Share**: the recipient's identity must chain to an attested one ([`crate::peers`]); the
//!   vault's keys (every epoch held) are sealed to that identity and to each of the recipient's
//!   devices that their verified device chain trusts and whose certificate verifies under it
//!   ([`crate::chains`]), signed by this device, and sent with the role in one request.
//! - **Unshare**: the server drops the member and their grants; this device then rotates the
//!   vault at once, so nothing written afterwards opens on the removed member's devices.
//! - **Rotate**: a fresh vault key for epoch + 1, granted to every remaining member whose
//!   identity this device trusts (and their certified devices); every live item re-sealed with a
//!   fresh item key at its next revision (attachment file keys re-wrapped), one new manifest,
//!   one request.
//! - **Replicate**: for principals the server lists as lacking a vault's current key, this
//!   device issues the grant when it holds the key and the principal chains to a trusted
//!   identity (their device's certificate verifies under it) and its user's verified device
//!   chain trusts it ([`crate::chains`]).

use std::collections::BTreeMap;

use coffer_crypto::chain::TrustedDevices;
use coffer_crypto::item::{
    ItemLocation, SealedItem, open_item, seal_item_with_key, unwrap_file_key, unwrap_item_key,
    wrap_file_key,
};
use coffer_crypto::manifest::{Manifest, ManifestBody, ManifestEntry};
use coffer_crypto::statement::RoleStatement;
use coffer_crypto::{DeviceCertificate, Envelope, PublicKeys, SymmetricKey, seal_grant};
use coffer_proto::api::{B64, MemberInfo};
use coffer_proto::vault::{
    AddGrantsRequest, GrantRecipient, PendingReplication, RotateVaultRequest, RotateVaultResponse,
    RotatedItemRequest, ShareVaultRequest, UserDevice, VaultGrant, VaultMemberInfo, VaultRole,
};
use coffer_proto::{DeviceState, UserId, VaultId, WorkspaceId};
use reqwest::Method;

use crate::Client;
use crate::cache::{self, CacheState, CachedItem, CachedVault};
use crate::chains::chain_devices;
use crate::error::{ClientError, Result};
use crate::model::ItemData;
use crate::net::Net;
use crate::peers::{PeerPins, TrustSet};
use crate::sync::{vault_integrity, vault_key_context};
use crate::vaults::{Ctx, resolve, uuid_of};

/// What a share did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareReport {
    /// The recipient.
    pub user_id: UserId,
    /// Their role now.
    pub role: VaultRole,
    /// Their devices that received grants.
    pub devices: usize,
    /// Grants issued (identity and devices, every epoch held).
    pub grants: usize,
}

/// One member's share, trust-checked and sealed, not sent yet.
#[derive(Debug, Clone)]
pub(crate) struct PlannedShare {
    /// The recipient.
    pub(crate) user: UserId,
    /// Their certified devices that get grants.
    pub(crate) devices: usize,
    /// The grants (identity and devices, every epoch held).
    pub(crate) grants: Vec<VaultGrant>,
    /// The role statement for them, signed by this user's identity (protocol.md §18.6).
    pub(crate) statement: B64,
}

/// A member of a vault as this device sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultMemberView {
    /// The member.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their role.
    pub role: VaultRole,
    /// Whether their identity chains to one this device trusts.
    pub trusted: bool,
}

pub(crate) fn vault_of<'s>(state: &'s CacheState, vk: &[u8; 16]) -> Result<&'s CachedVault> {
    state.vaults.get(vk).ok_or_else(|| ClientError::NotFound {
        kind: "vault",
        name: uuid_of(vk).to_string(),
    })
}

pub(crate) fn find_vault(state: &CacheState, vault: &str) -> Result<[u8; 16]> {
    let candidates: Vec<(String, String, [u8; 16])> = state
        .vaults
        .values()
        .map(|v| {
            (
                v.id.to_string(),
                v.record.name.clone(),
                *v.id.as_uuid().as_bytes(),
            )
        })
        .collect();
    resolve("vault", vault, &candidates).copied()
}

/// The workspace member with this email (or user id).
pub(crate) fn member_by_email<'m>(
    members: &'m [MemberInfo],
    email: &str,
) -> Result<&'m MemberInfo> {
    let want = email.trim().to_lowercase();
    members
        .iter()
        .find(|m| m.email.to_lowercase() == want || m.user_id.to_string() == want)
        .ok_or_else(|| ClientError::NotFound {
            kind: "member",
            name: email.to_owned(),
        })
}

/// Seals `key` (epoch `epoch` of `v`) to each recipient, signed by this device.
fn seal_to(
    ctx: &Ctx,
    v: &CachedVault,
    epoch: u32,
    key: &SymmetricKey,
    recipients: &[(GrantRecipient, PublicKeys)],
) -> Result<Vec<VaultGrant>> {
    let gctx = vault_key_context(v.workspace_bytes(), v.id_bytes(), epoch);
    recipients
        .iter()
        .map(|(r, pk)| {
            Ok(VaultGrant {
                recipient: *r,
                epoch,
                grant: B64(seal_grant(key, &gctx, pk, &ctx.keys.device)?.into_bytes()),
            })
        })
        .collect()
}

impl Client {
    /// Whom this device trusts in workspace `ws` (fetches the members, updates the pins).
    pub(crate) async fn trust_in(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<TrustSet> {
        let members: Vec<MemberInfo> = self.get(&format!("v1/workspaces/{ws}/members")).await?;
        let mut pins = PeerPins::load(self.profile())?;
        let before = pins.clone();
        let set = pins.trust(ctx.keys.user_id, &ctx.identity, ws, &members);
        if pins != before {
            pins.save(self.profile())?;
        }
        Ok(set)
    }

    /// The identity and certified devices of `user` as grant recipients, or the loud error of
    /// an identity this device does not trust.
    pub(crate) async fn recipients_of(
        &self,
        trust: &TrustSet,
        user: UserId,
        email: &str,
    ) -> Result<Vec<(GrantRecipient, PublicKeys)>> {
        let identity = *trust.require(user, email)?;
        let chain = self.verified_chain(user, email, &identity).await?;
        let served: Vec<UserDevice> = self.get(&format!("v1/users/{user}/devices")).await?;
        let mut out = vec![(GrantRecipient::User(user), identity)];
        for (d, keys) in chain_devices(user, &identity, &chain, &served) {
            out.push((GrantRecipient::Device(d), keys));
        }
        Ok(out)
    }

    /// Shares `vault` with workspace member `email` as `role` (or changes their role): grants of
    /// every key epoch this device holds go to their identity and trusted devices.
    pub async fn vault_share(
        &mut self,
        vault: &str,
        email: &str,
        role: VaultRole,
    ) -> Result<ShareReport> {
        let mut all = self.vault_share_many(vault, &[email], role).await?;
        all.pop()
            .ok_or_else(|| ClientError::Protocol("a share reported nothing".into()))
    }

    /// Shares `vault` with several workspace members at once (a team): one sync, one read of
    /// the members and one trust decision for all of them, then one request per member. Every
    /// member is checked before anything is sent: one untrusted identity sends nothing.
    pub async fn vault_share_many(
        &mut self,
        vault: &str,
        emails: &[&str],
        role: VaultRole,
    ) -> Result<Vec<ShareReport>> {
        let (ctx, state) = self.write_state().await?;
        let vk = find_vault(&state, vault)?;
        let planned = self.plan_shares(&ctx, &state, vk, emails, role).await?;
        let v = vault_of(&state, &vk)?;
        let mut out = Vec::with_capacity(planned.len());
        for p in planned {
            let n = p.grants.len();
            self.put(
                &format!("v1/vaults/{}/members/{}", v.id, p.user),
                &ShareVaultRequest {
                    role,
                    grants: p.grants,
                    request_id: None,
                    statement: Some(p.statement),
                },
            )
            .await?;
            out.push(ShareReport {
                user_id: p.user,
                role,
                devices: p.devices,
                grants: n,
            });
        }
        Ok(out)
    }

    /// Seals the keys of vault `vk` (every epoch this device holds) for each of `who` (emails or
    /// user ids of workspace members), with one read of the members and one trust decision.
    /// Nothing is sent; any member whose identity this device does not trust fails the whole
    /// plan with the loud error of [`TrustSet::require`]. Only a manager of the vault may plan.
    pub(crate) async fn plan_shares(
        &self,
        ctx: &Ctx,
        state: &CacheState,
        vk: [u8; 16],
        who: &[&str],
        role: VaultRole,
    ) -> Result<Vec<PlannedShare>> {
        let v = vault_of(state, &vk)?;
        let ws = v.workspace.ok_or_else(|| {
            ClientError::Invalid(
                "a personal vault cannot be shared: create the vault in a workspace".into(),
            )
        })?;
        if v.role != VaultRole::Manager {
            return Err(ClientError::Invalid(format!(
                "only a manager of vault \"{}\" may share it (you are {})",
                v.record.name, v.role
            )));
        }
        let members: Vec<MemberInfo> = self.get(&format!("v1/workspaces/{ws}/members")).await?;
        let trust = {
            let mut pins = PeerPins::load(self.profile())?;
            let before = pins.clone();
            let set = pins.trust(ctx.keys.user_id, &ctx.identity, ws, &members);
            if pins != before {
                pins.save(self.profile())?;
            }
            set
        };
        let mut planned = Vec::with_capacity(who.len());
        for email in who {
            let m = member_by_email(&members, email)?;
            let recipients = self.recipients_of(&trust, m.user_id, &m.email).await?;
            let mut grants = Vec::new();
            for (epoch, key) in &v.keys {
                grants.extend(seal_to(ctx, v, *epoch, key, &recipients)?);
            }
            // The role, signed by this user's identity for the member's trusted identity
            // (protocol.md §18.6): other members accept the member's writes only with it.
            let statement = RoleStatement::issue(
                &ctx.keys.identity,
                *ctx.keys.user_id.as_uuid().as_bytes(),
                vk,
                *m.user_id.as_uuid().as_bytes(),
                trust.require(m.user_id, &m.email)?,
                role.code(),
                u64::try_from(crate::model::now_unix()).unwrap_or(0),
            )?;
            planned.push(PlannedShare {
                user: m.user_id,
                devices: recipients.len() - 1,
                grants,
                statement: B64(statement.as_bytes().to_vec()),
            });
        }
        Ok(planned)
    }

    /// Removes `email` from `vault` and rotates the vault's key at once.
    pub async fn vault_unshare(&mut self, vault: &str, email: &str) -> Result<u32> {
        let (ctx, mut state) = self.write_state().await?;
        let vk = find_vault(&state, vault)?;
        let v = vault_of(&state, &vk)?;
        let members = self.vault_member_list(v.id).await?;
        let want = email.trim().to_lowercase();
        let m = members
            .iter()
            .find(|m| m.email.to_lowercase() == want || m.user_id.to_string() == want)
            .ok_or_else(|| ClientError::NotFound {
                kind: "vault member",
                name: email.to_owned(),
            })?;
        self.delete(&format!("v1/vaults/{}/members/{}", v.id, m.user_id))
            .await?;
        if m.user_id == ctx.keys.user_id {
            return Ok(v.epoch);
        }
        self.sync_into(&ctx, &mut state).await?;
        self.rotate_in(&ctx, &mut state, vk).await
    }

    pub(crate) async fn vault_member_list(&self, id: VaultId) -> Result<Vec<VaultMemberInfo>> {
        self.get(&format!("v1/vaults/{id}/members")).await
    }

    /// The members of `vault`, with whether this device trusts each identity.
    pub async fn vault_members(&mut self, vault: &str) -> Result<Vec<VaultMemberView>> {
        let (ctx, state) = self.read_state().await?;
        let vk = find_vault(&state, vault)?;
        let v = vault_of(&state, &vk)?;
        let members = self.vault_member_list(v.id).await?;
        let trust = match v.workspace {
            Some(ws) => Some(self.trust_in(&ctx, ws).await?),
            None => None,
        };
        Ok(members
            .into_iter()
            .map(|m| VaultMemberView {
                trusted: m.user_id == ctx.keys.user_id
                    || trust
                        .as_ref()
                        .is_some_and(|t| t.identities.contains_key(&m.user_id)),
                user_id: m.user_id,
                email: m.email,
                role: m.role,
            })
            .collect())
    }

    /// Rotates `vault` to a new key epoch; returns the new epoch.
    pub async fn vault_rotate(&mut self, vault: &str) -> Result<u32> {
        let (ctx, mut state) = self.write_state().await?;
        let vk = find_vault(&state, vault)?;
        self.rotate_in(&ctx, &mut state, vk).await
    }

    /// One rotation of the vault `vk` in `state` (synced), saved to the cache on success.
    pub(crate) async fn rotate_in(
        &self,
        ctx: &Ctx,
        state: &mut CacheState,
        vk: [u8; 16],
    ) -> Result<u32> {
        let v = vault_of(state, &vk)?;
        if v.role != VaultRole::Manager {
            return Err(ClientError::Invalid(format!(
                "only a manager of vault \"{}\" may rotate its key (you are {})",
                v.record.name, v.role
            )));
        }
        let epoch = v
            .epoch
            .checked_add(1)
            .ok_or_else(|| ClientError::Invalid("the vault has no epoch left".into()))?;
        // Recipients: every member whose identity this device trusts, and their devices.
        let members = self.vault_member_list(v.id).await?;
        let trust = match v.workspace {
            Some(ws) => self.trust_in(ctx, ws).await?,
            None => {
                let mut t = TrustSet::default();
                t.identities.insert(ctx.keys.user_id, ctx.identity);
                t
            }
        };
        let mut recipients = Vec::new();
        for m in &members {
            if !trust.identities.contains_key(&m.user_id) {
                // Not trusted (yet): no key; replication grants it once they are confirmed.
                continue;
            }
            recipients.extend(self.recipients_of(&trust, m.user_id, &m.email).await?);
        }
        let key = SymmetricKey::generate()?;
        let grants = seal_to(ctx, v, epoch, &key, &recipients)?;
        let (items, new_items, entries) = reseal_all(v, epoch, &key)?;
        let prev = Manifest::from_compact(&v.manifest, crate::vaults::entries_of(v))
            .map_err(|e| vault_integrity(&e))?;
        let next =
            ManifestBody::successor(&prev, epoch, entries.clone())?.sign(&ctx.keys.device)?;
        let req = RotateVaultRequest {
            epoch,
            base_counter: v.counter,
            manifest: B64(next.to_compact()?),
            grants,
            items,
        };
        let resp: RotateVaultResponse = Net::of(self)?
            .json(
                Method::POST,
                &format!("v1/vaults/{}/rotate", v.id),
                Some(&req),
            )
            .await?;
        let manifest = Manifest::from_compact(&req.manifest.0, entries)?;
        let v = state
            .vaults
            .get_mut(&vk)
            .ok_or_else(|| ClientError::Integrity("the vault vanished during rotation".into()))?;
        for (id, mut it) in new_items {
            it.counter = resp.counter;
            v.items.insert(id, it);
        }
        v.keys.insert(epoch, key);
        v.epoch = epoch;
        v.counter = manifest.counter();
        v.head = manifest.head();
        v.manifest = req.manifest.0;
        cache::save(&ctx.path, state, &ctx.keys.device)?;
        // This user's recovery keys of the vault get the new epoch at once; other managers'
        // recovery keys get it on their next sync.
        self.recovery_top_up_in(ctx, state).await?;
        // Items shared alone got fresh item keys: share them again with those who still trust
        // chains to (protocol.md §21.3). One that cannot be re-shared waits for a manual share,
        // and says so in a notice ([`Client::take_notices`]).
        for n in self.reshare_items_in(ctx, state, vk).await? {
            self.notice(n);
        }
        Ok(epoch)
    }

    /// Issues the grants the server lists as missing for keys this device holds, to principals
    /// that chain to a trusted identity. Returns the number issued and the notices of
    /// principals skipped.
    pub(crate) async fn replicate_in(
        &self,
        ctx: &Ctx,
        state: &CacheState,
    ) -> Result<(usize, Vec<String>)> {
        let pending: Vec<PendingReplication> = self.get("v1/replications").await?;
        let mut by_vault: BTreeMap<VaultId, Vec<PendingReplication>> = BTreeMap::new();
        for p in pending {
            by_vault.entry(p.vault_id).or_default().push(p);
        }
        let mut trusts: BTreeMap<WorkspaceId, TrustSet> = BTreeMap::new();
        let mut chains: BTreeMap<UserId, std::result::Result<TrustedDevices, String>> =
            BTreeMap::new();
        let (mut issued, mut notices) = (0, Vec::new());
        for (vault, wants) in by_vault {
            let Some(v) = state.vaults.get(vault.as_uuid().as_bytes()) else {
                continue;
            };
            let Some(key) = v.keys.get(&v.epoch) else {
                continue;
            };
            let trust = match v.workspace {
                Some(ws) => {
                    if let std::collections::btree_map::Entry::Vacant(e) = trusts.entry(ws) {
                        let t = self.trust_in(ctx, ws).await?;
                        notices.extend(t.notices.iter().cloned());
                        e.insert(t);
                    }
                    trusts.get(&ws)
                }
                None => None,
            };
            let mut recipients = Vec::new();
            for p in &wants {
                if p.epoch != v.epoch {
                    continue;
                }
                let identity = if p.user_id == ctx.keys.user_id {
                    Some(&ctx.identity)
                } else {
                    trust.and_then(|t| t.identities.get(&p.user_id))
                };
                let Some(identity) = identity else {
                    notices.push(format!(
                        "not replicating vault \"{}\" to user {}: their identity is not \
                         confirmed by an admin this device trusts",
                        v.record.name, p.user_id
                    ));
                    continue;
                };
                match (p.device_id, &p.certificate) {
                    (None, _) => recipients.push((GrantRecipient::User(p.user_id), *identity)),
                    (Some(d), Some(cert)) => {
                        // The device must be in its user's verified chain (fetched once).
                        let chain = match chains.entry(p.user_id) {
                            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::btree_map::Entry::Vacant(e) => e.insert(
                                self.verified_chain(p.user_id, &p.user_id.to_string(), identity)
                                    .await
                                    .map_err(|e| e.to_string()),
                            ),
                        };
                        let chain = match chain {
                            Ok(c) => &*c,
                            Err(m) => {
                                notices.push(format!(
                                    "not replicating vault \"{}\" to device {d}: {m}",
                                    v.record.name
                                ));
                                continue;
                            }
                        };
                        let served = UserDevice {
                            device_id: d,
                            state: DeviceState::Trusted,
                            public_keys: match DeviceCertificate::from_bytes(&cert.0) {
                                Ok(c) => B64(c.device_keys().to_bytes().to_vec()),
                                Err(_) => continue,
                            },
                            certificate: Some(cert.clone()),
                        };
                        match chain_devices(p.user_id, identity, chain, &[served]).pop() {
                            Some((d, keys)) => recipients.push((GrantRecipient::Device(d), keys)),
                            None => notices.push(format!(
                                "not replicating vault \"{}\" to device {d}: its user's device \
                                 chain does not trust it, or its certificate does not verify \
                                 under its user's trusted identity",
                                v.record.name
                            )),
                        }
                    }
                    (Some(_), None) => {}
                }
            }
            if recipients.is_empty() {
                continue;
            }
            let grants = seal_to(ctx, v, v.epoch, key, &recipients)?;
            issued += grants.len();
            self.post_no_content(
                &format!("v1/vaults/{}/grants", v.id),
                &AddGrantsRequest { grants },
            )
            .await?;
        }
        Ok((issued, notices))
    }
}

type Resealed = (
    Vec<RotatedItemRequest>,
    Vec<([u8; 16], CachedItem)>,
    Vec<ManifestEntry>,
);

/// Re-seals every item of `v` under `key` at `epoch` with fresh item keys and the next
/// revision, re-wrapping attachment file keys.
fn reseal_all(v: &CachedVault, epoch: u32, key: &SymmetricKey) -> Result<Resealed> {
    let mut reqs = Vec::with_capacity(v.items.len());
    let mut cached = Vec::with_capacity(v.items.len());
    let mut entries = Vec::with_capacity(v.items.len());
    let record_id = *coffer_proto::vault::VAULT_RECORD_ITEM.as_uuid().as_bytes();
    for (id, it) in &v.items {
        let old_key = v
            .keys
            .get(&it.epoch)
            .ok_or_else(|| ClientError::Integrity(format!("no key for epoch {}", it.epoch)))?;
        let old_loc = ItemLocation {
            workspace: v.workspace_bytes(),
            vault: v.id_bytes(),
            item: *id,
            epoch: it.epoch,
            revision: it.revision,
        };
        let sealed = SealedItem::from_bytes(&it.sealed)?;
        let old_item_key = unwrap_item_key(old_key, &sealed.item_key, &old_loc)
            .map_err(|e| vault_integrity(&e))?;
        let fields = open_item(old_key, &sealed, &old_loc).map_err(|e| vault_integrity(&e))?;
        let revision = it.revision + 1;
        let loc = ItemLocation {
            epoch,
            revision,
            ..old_loc
        };
        let item_key = coffer_crypto::item::generate_item_key()?;
        let plain: Vec<(String, zeroize::Zeroizing<Vec<u8>>)> = if *id == record_id {
            fields
                .iter()
                .map(|(k, f)| {
                    (
                        k.clone(),
                        zeroize::Zeroizing::new(f.expose_secret().to_vec()),
                    )
                })
                .collect()
        } else {
            let pairs: Vec<(String, zeroize::Zeroizing<Vec<u8>>)> = fields
                .iter()
                .map(|(k, f)| {
                    (
                        k.clone(),
                        zeroize::Zeroizing::new(f.expose_secret().to_vec()),
                    )
                })
                .collect();
            let mut data = ItemData::from_fields(&pairs)?;
            for a in &mut data.attachments {
                let wrapped = Envelope::from_bytes(&a.key.0).map_err(|e| vault_integrity(&e))?;
                let file_key = unwrap_file_key(&old_item_key, &old_loc, &a.id, &wrapped)
                    .map_err(|e| vault_integrity(&e))?;
                a.key = B64(wrap_file_key(&item_key, &loc, &a.id, &file_key)?.into_bytes());
            }
            data.to_fields()?
        };
        let refs: Vec<(&str, &[u8])> = plain
            .iter()
            .map(|(k, f)| (k.as_str(), f.as_slice()))
            .collect();
        let bytes = seal_item_with_key(key, &item_key, &loc, &refs)?.to_bytes()?;
        let entry = ManifestEntry::from_sealed_bytes(*id, revision, epoch, &bytes);
        entries.push(entry);
        reqs.push(RotatedItemRequest {
            item_id: coffer_proto::ItemId::from_uuid(uuid_of(id)),
            base_revision: it.revision,
            sealed: B64(bytes.clone()),
        });
        cached.push((
            *id,
            CachedItem {
                revision,
                epoch,
                counter: 0,
                hash: entry.content_hash,
                sealed: bytes,
                overview: it.overview.clone(),
            },
        ));
    }
    Ok((reqs, cached, entries))
}
