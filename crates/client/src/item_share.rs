//! Items shared alone (docs/protocol.md §21).
//!
//! - **Share**: a manager of a workspace vault unwraps one item's key (its current epoch) and
//!   seals it, as an `ItemGrant`, to a workspace member's trusted identity and certified devices
//!   ([`crate::peers`]), signed by this device. The member need not be in the vault.
//! - **Read**: `GET /v1/shared-items` serves each item's current sealed bytes with the grants
//!   to this user. A grant opens only when its signer's certificate verifies under an identity
//!   this device trusts in the item's workspace; the item then opens under the item key at the
//!   served location (any swap of item, vault, epoch or revision fails to open). This device
//!   pins the highest (epoch, revision) it has seen per item in `shared-items.json` and refuses
//!   an older one (a rollback).
//! - **Unshare**: the server drops the grants and flags the vault for rotation, which gives the
//!   item a fresh key; after a rotation, a manager's sync re-shares items with the members they
//!   are still shared with (§21.3).

use std::collections::BTreeMap;

use coffer_crypto::grant::{Grant, open_grant_with};
use coffer_crypto::item::{ItemLocation, SealedItem, open_item_with_key, unwrap_item_key};
use coffer_crypto::{Context, DeviceCertificate, Purpose, SymmetricKey, seal_grant};
use coffer_proto::api::{B64, MemberInfo};
use coffer_proto::vault::{
    GrantRecipient, ItemShareInfo, ShareItemRequest, SharedItem, VaultGrant, VaultRole,
};
use coffer_proto::{ItemId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Client;
use crate::cache::CacheState;
use crate::error::{ClientError, Result};
use crate::model::ItemData;
use crate::peers::TrustSet;
use crate::sharing::ShareReport;
use crate::vaults::{Ctx, Item, resolve, uuid_of};

/// The pin file of shared items' highest (epoch, revision) seen.
const PINS_FILE: &str = "shared-items.json";

/// Context of an item-key grant.
pub(crate) fn item_grant_context(
    ws: [u8; 16],
    vault: [u8; 16],
    item: [u8; 16],
    epoch: u32,
) -> Context {
    Context::new(Purpose::ItemGrant)
        .with_workspace(ws)
        .with_vault(vault)
        .with_item(item)
        .with_epoch(epoch)
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct SharedPins {
    /// Item id → (epoch, revision) last opened.
    items: BTreeMap<ItemId, (u32, u64)>,
}

impl Client {
    /// The key of item `id` of vault `vk` in `state`, with its workspace (the item must be in a
    /// workspace vault this user manages).
    fn item_key_for_share(
        state: &CacheState,
        vk: [u8; 16],
        id: [u8; 16],
    ) -> Result<(WorkspaceId, u32, SymmetricKey)> {
        let v = state.vaults.get(&vk).ok_or_else(|| ClientError::NotFound {
            kind: "vault",
            name: uuid_of(&vk).to_string(),
        })?;
        let ws = v.workspace.ok_or_else(|| {
            ClientError::Invalid("an item of a personal vault cannot be shared".into())
        })?;
        if v.role != VaultRole::Manager {
            return Err(ClientError::Invalid(format!(
                "only a manager of vault \"{}\" may share its items (you are {})",
                v.record.name, v.role
            )));
        }
        let it = v.items.get(&id).ok_or_else(|| ClientError::NotFound {
            kind: "item",
            name: uuid_of(&id).to_string(),
        })?;
        let vkey = v.keys.get(&it.epoch).ok_or_else(|| {
            ClientError::Integrity(format!("vault integrity: no key for epoch {}", it.epoch))
        })?;
        let sealed = SealedItem::from_bytes(&it.sealed)
            .map_err(|e| ClientError::Integrity(format!("item: {e}")))?;
        let loc = ItemLocation {
            workspace: v.workspace_bytes(),
            vault: v.id_bytes(),
            item: id,
            epoch: it.epoch,
            revision: it.revision,
        };
        let key = unwrap_item_key(vkey, &sealed.item_key, &loc)
            .map_err(|e| ClientError::Integrity(format!("item key: {e}")))?;
        Ok((ws, it.epoch, key))
    }

    /// Seals item `id`'s key to `user`'s trusted identity and certified devices and sends the
    /// share.
    pub(crate) async fn send_item_share(
        &self,
        ctx: &Ctx,
        state: &CacheState,
        (vk, id): ([u8; 16], [u8; 16]),
        trust: &TrustSet,
        user: UserId,
        email: &str,
    ) -> Result<ShareReport> {
        let (ws, epoch, key) = Self::item_key_for_share(state, vk, id)?;
        let recipients = self.recipients_of(trust, user, email).await?;
        let gctx = item_grant_context(*ws.as_uuid().as_bytes(), vk, id, epoch);
        let grants = recipients
            .iter()
            .map(|(r, pk)| {
                Ok(VaultGrant {
                    recipient: *r,
                    epoch,
                    grant: B64(seal_grant(&key, &gctx, pk, &ctx.keys.device)?.into_bytes()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let n = grants.len();
        self.put(
            &format!(
                "v1/vaults/{}/items/{}/shares/{user}",
                uuid_of(&vk),
                uuid_of(&id)
            ),
            &ShareItemRequest { grants },
        )
        .await?;
        Ok(ShareReport {
            user_id: user,
            role: VaultRole::Viewer,
            devices: recipients.len() - 1,
            grants: n,
        })
    }

    /// Shares one item alone with workspace member `email` (read-only): its key goes to their
    /// trusted identity and devices. They need not be a member of the vault.
    pub async fn item_share(
        &mut self,
        item: &str,
        vault: Option<&str>,
        email: &str,
    ) -> Result<ShareReport> {
        let (ctx, state) = self.write_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        let (ws, _, _) = Self::item_key_for_share(&state, vk, id)?;
        let members: Vec<MemberInfo> = self.get(&format!("v1/workspaces/{ws}/members")).await?;
        let m = crate::sharing::member_by_email(&members, email)?;
        let trust = self.trust_in(&ctx, ws).await?;
        self.send_item_share(&ctx, &state, (vk, id), &trust, m.user_id, &m.email)
            .await
    }

    /// Ends the share of one item with `email`; the vault is flagged for rotation (the item
    /// gets a fresh key at the next rotation, which a manager's sync runs).
    pub async fn item_unshare(
        &mut self,
        item: &str,
        vault: Option<&str>,
        email: &str,
    ) -> Result<UserId> {
        let (_, state) = self.write_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        let (ws, _, _) = Self::item_key_for_share(&state, vk, id)?;
        let members: Vec<MemberInfo> = self.get(&format!("v1/workspaces/{ws}/members")).await?;
        let m = crate::sharing::member_by_email(&members, email)?;
        self.delete(&format!(
            "v1/vaults/{}/items/{}/shares/{}",
            uuid_of(&vk),
            uuid_of(&id),
            m.user_id
        ))
        .await?;
        Ok(m.user_id)
    }

    /// After a rotation of vault `vk`: re-shares every item still shared alone with a member
    /// whose identity this device trusts (its item key is new). Returns notices for the others.
    pub(crate) async fn reshare_items_in(
        &self,
        ctx: &Ctx,
        state: &CacheState,
        vk: [u8; 16],
    ) -> Result<Vec<String>> {
        let Some(v) = state.vaults.get(&vk) else {
            return Ok(Vec::new());
        };
        let Some(ws) = v.workspace else {
            return Ok(Vec::new());
        };
        let shares: Vec<ItemShareInfo> =
            self.get(&format!("v1/vaults/{}/item-shares", v.id)).await?;
        if shares.is_empty() {
            return Ok(Vec::new());
        }
        let trust = self.trust_in(ctx, ws).await?;
        let members: Vec<MemberInfo> = self.get(&format!("v1/workspaces/{ws}/members")).await?;
        let mut notices = Vec::new();
        for s in shares {
            let id = *s.item_id.as_uuid().as_bytes();
            if !v.items.contains_key(&id) {
                continue;
            }
            let email = members
                .iter()
                .find(|m| m.user_id == s.user_id)
                .map_or_else(|| s.user_id.to_string(), |m| m.email.clone());
            if let Err(e) = self
                .send_item_share(ctx, state, (vk, id), &trust, s.user_id, &email)
                .await
            {
                notices.push(format!(
                    "item {} was not re-shared with {email} after the rotation: {e}",
                    s.item_id
                ));
            }
        }
        Ok(notices)
    }

    /// The items shared with this user alone, opened and verified (see the module doc).
    /// Items whose grant of the current epoch has not arrived yet are left out.
    pub async fn shared_items(&mut self) -> Result<Vec<Item>> {
        let ctx = self.vault_ctx()?;
        let served: Vec<SharedItem> = self.get("v1/shared-items").await?;
        let mut pins: SharedPins = match self.profile().read_optional(PINS_FILE)? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| ClientError::Invalid(format!("{PINS_FILE}: {e}")))?,
            None => SharedPins::default(),
        };
        let before = serde_json::to_vec(&pins).unwrap_or_default();
        let mut trusts: BTreeMap<WorkspaceId, TrustSet> = BTreeMap::new();
        let mut out = Vec::new();
        for si in &served {
            if let std::collections::btree_map::Entry::Vacant(e) = trusts.entry(si.workspace_id) {
                e.insert(self.trust_in(&ctx, si.workspace_id).await?);
            }
            let trust = trusts.get(&si.workspace_id);
            if let Some(item) = open_shared(&ctx, si, trust, &mut pins)? {
                out.push(item);
            }
        }
        let after = serde_json::to_vec(&pins).unwrap_or_default();
        if after != before {
            self.profile().write_private(PINS_FILE, &after)?;
        }
        Ok(out)
    }

    /// One item shared with this user alone, by id, name or unique prefix.
    pub async fn shared_item(&mut self, item: &str) -> Result<Item> {
        let all = self.shared_items().await?;
        let cands: Vec<(String, String, usize)> = all
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.to_string(), it.data.name.clone(), i))
            .collect();
        let i = *resolve("item", item, &cands)?;
        all.into_iter()
            .nth(i)
            .ok_or_else(|| ClientError::Protocol("shared item vanished".into()))
    }
}

/// Opens one served shared item; `None` while this user holds no grant of its epoch.
fn open_shared(
    ctx: &Ctx,
    si: &SharedItem,
    trust: Option<&TrustSet>,
    pins: &mut SharedPins,
) -> Result<Option<Item>> {
    let integrity = |m: String| ClientError::Integrity(format!("shared item {}: {m}", si.item_id));
    let ws = *si.workspace_id.as_uuid().as_bytes();
    let vid = *si.vault_id.as_uuid().as_bytes();
    let iid = *si.item_id.as_uuid().as_bytes();
    // Signers: devices whose certificate verifies under an identity this device trusts.
    let mut trusted_signers: Vec<[u8; 32]> = vec![*ctx.identity.signing()];
    for s in &si.signers {
        let identity = if s.user_id == ctx.keys.user_id {
            Some(&ctx.identity)
        } else {
            trust.and_then(|t| t.identities.get(&s.user_id))
        };
        let (Some(identity), Ok(cert)) =
            (identity, DeviceCertificate::from_bytes(&s.certificate.0))
        else {
            continue;
        };
        if cert.verify(identity).is_ok() && cert.user_id() == s.user_id.as_uuid().as_bytes() {
            trusted_signers.push(*cert.device_keys().signing());
        }
    }
    let mine = si.grants.iter().find_map(|g| {
        let kp = match g.recipient {
            GrantRecipient::Device(d) if d == ctx.keys.device_id => &ctx.keys.device,
            GrantRecipient::User(u) if u == ctx.keys.user_id => &ctx.keys.identity,
            _ => return None,
        };
        (g.epoch == si.epoch).then_some((g, kp))
    });
    let Some((g, kp)) = mine else {
        return Ok(None);
    };
    let grant = Grant::from_bytes(&g.grant.0).map_err(|e| integrity(format!("grant: {e}")))?;
    let key = open_grant_with(
        &grant,
        kp,
        |s| trusted_signers.iter().any(|t| t == s),
        &item_grant_context(ws, vid, iid, si.epoch),
    )
    .map_err(|e| {
        integrity(format!(
            "{e} (the grant's signer must chain to an identity you trust)"
        ))
    })?;
    if let Some(&(e, r)) = pins.items.get(&si.item_id)
        && (si.epoch, si.revision) < (e, r)
    {
        return Err(integrity(format!(
            "the server serves epoch {} revision {}, older than epoch {e} revision {r} seen \
             before (a rollback)",
            si.epoch, si.revision
        )));
    }
    let sealed =
        SealedItem::from_bytes(&si.sealed.0).map_err(|e| integrity(format!("item: {e}")))?;
    let loc = ItemLocation {
        workspace: ws,
        vault: vid,
        item: iid,
        epoch: si.epoch,
        revision: si.revision,
    };
    let fields = open_item_with_key(&key, &sealed, &loc).map_err(|e| integrity(e.to_string()))?;
    let fields: Vec<(String, Zeroizing<Vec<u8>>)> = fields
        .into_iter()
        .map(|(k, v)| (k, v.into_zeroizing()))
        .collect();
    pins.items.insert(si.item_id, (si.epoch, si.revision));
    Ok(Some(Item {
        id: si.item_id,
        vault_id: si.vault_id,
        vault_name: "shared with you".into(),
        revision: si.revision,
        data: ItemData::from_fields(&fields)?,
    }))
}
