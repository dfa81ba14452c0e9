//! Local vaults and items (`docs/protocol.md` §15): the SDK calls the CLI uses — sync, vault
//! create/list/rename/delete, item create/get/update/delete/list/history/restore — on top of the
//! encrypted cache ([`crate::cache`]) and the verified sync ([`crate::sync`]).
//!
//! **Reads** first run a delta sync; when the server cannot be reached they serve the cache and
//! [`Client::offline_notice`] says so. **Writes** need the server: each one seals the item
//! (reusing its item key within an epoch), builds and signs the next manifest with the device
//! key, and sends both with the counter and revision it is based on. When the server answers
//! that only the vault moved on, the client syncs and retries (up to three times); when the item
//! itself changed, it returns [`ClientError::Conflict`] and writes nothing.
//!
//! Vaults and items are named by id, exact name or unique prefix (of the name or the id);
//! several matches are [`ClientError::Ambiguous`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use coffer_crypto::item::{ItemLocation, SealedItem, seal_item_with_key, unwrap_item_key};
use coffer_crypto::manifest::{Manifest, ManifestBody, ManifestEntry};
use coffer_crypto::{PublicKeys, SymmetricKey, seal_grant};
use coffer_proto::api::B64;
use coffer_proto::vault::{
    CreateVaultRequest, FIRST_EPOCH, GrantRecipient, ItemRevision, SyncRequest, VAULT_RECORD_ITEM,
    VaultGrant, VaultRole, WriteItemRequest, WriteItemResponse,
};
use coffer_proto::{ErrorCode, ItemId, VaultId, WorkspaceId};
use reqwest::Method;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Client;
use crate::cache::{self, CacheState, CachedItem, CachedVault};
use crate::error::{ClientError, Result};
use crate::model::{ItemData, ItemType, VAULT_RECORD_FIELD, VaultRecord, now_unix};
use crate::net::{Net, is_offline};
use crate::sync::{
    FrameParser, StreamApplier, SyncReport, open_fields, vault_integrity, vault_key_context,
};
use crate::unlock::Keys;

/// How many times a write is retried after the vault moved on.
const WRITE_RETRIES: usize = 3;

/// A vault as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultSummary {
    /// Its id.
    pub id: VaultId,
    /// Its name (decrypted).
    pub name: String,
    /// Its description (decrypted).
    pub description: Option<String>,
    /// Its workspace (none: personal).
    pub workspace_id: Option<WorkspaceId>,
    /// The caller's role.
    pub role: VaultRole,
    /// Number of items (the vault record not counted).
    pub items: usize,
    /// Current key epoch.
    pub epoch: u32,
}

/// An item as listed (overview only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSummary {
    /// Its id.
    pub id: ItemId,
    /// Its vault.
    pub vault_id: VaultId,
    /// Its vault's name.
    pub vault_name: String,
    /// Its type.
    pub item_type: ItemType,
    /// Its name.
    pub name: String,
    /// Its username.
    pub username: Option<String>,
    /// Its URLs.
    pub urls: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its revision.
    pub revision: u64,
    /// Unix seconds (writing client's clock).
    pub updated_at: i64,
}

/// An item with everything it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its id.
    pub id: ItemId,
    /// Its vault.
    pub vault_id: VaultId,
    /// Its vault's name.
    pub vault_name: String,
    /// Its revision.
    pub revision: u64,
    /// Its content.
    pub data: ItemData,
}

/// One kept revision of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The revision.
    pub revision: u64,
    /// Whether this revision deleted the item.
    pub deleted: bool,
    /// The content (none for a deletion).
    pub data: Option<ItemData>,
    /// Unix seconds (server clock, informative).
    pub created_at: i64,
}

/// Locks `m`, also after a panic elsewhere poisoned it (the data are plain maps, always
/// consistent between statements).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Per cache file, the vaults whose last sync claimed a newer key epoch than the one held
/// (writes to them are refused until the key arrives).
fn stale_vaults() -> &'static Mutex<HashMap<PathBuf, BTreeSet<[u8; 16]>>> {
    static S: std::sync::OnceLock<Mutex<HashMap<PathBuf, BTreeSet<[u8; 16]>>>> =
        std::sync::OnceLock::new();
    S.get_or_init(|| Mutex::new(HashMap::new()))
}

fn set_stale(path: &std::path::Path, stale: BTreeSet<[u8; 16]>) {
    let mut m = lock(stale_vaults());
    m.insert(path.to_path_buf(), stale);
}

fn is_stale(path: &std::path::Path, vk: &[u8; 16]) -> bool {
    let m = lock(stale_vaults());
    m.get(path).is_some_and(|s| s.contains(vk))
}

/// Per-profile offline notices (the `Client` struct is not this module's to extend; a notice
/// string is interned once per distinct text, so the leak is bounded).
fn notices() -> &'static Mutex<HashMap<PathBuf, &'static str>> {
    static N: std::sync::OnceLock<Mutex<HashMap<PathBuf, &'static str>>> =
        std::sync::OnceLock::new();
    N.get_or_init(|| Mutex::new(HashMap::new()))
}

fn intern(s: String) -> &'static str {
    static SEEN: std::sync::OnceLock<Mutex<Vec<&'static str>>> = std::sync::OnceLock::new();
    let m = SEEN.get_or_init(|| Mutex::new(Vec::new()));
    let mut seen = lock(m);
    if let Some(s) = seen.iter().find(|x| **x == s) {
        return s;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    seen.push(leaked);
    leaked
}

/// What every vault call needs: the unlocked keys, the pinned identity, the cache path.
pub(crate) struct Ctx {
    pub(crate) keys: Keys,
    pub(crate) identity: PublicKeys,
    pub(crate) path: PathBuf,
}

/// How old `synced_at` may grow before a sync that changed nothing rewrites the cache.
const SYNCED_AT_REFRESH_SECS: i64 = 300;

/// What a sync can change in a vault besides its items: counter, epoch, keys held, manifest.
fn cache_shape(s: &CacheState) -> Vec<([u8; 16], u64, u32, usize, usize, usize)> {
    s.vaults
        .iter()
        .map(|(id, v)| {
            (
                *id,
                v.counter,
                v.epoch,
                v.keys.len(),
                v.manifest.len(),
                v.items.len(),
            )
        })
        .collect()
}

pub(crate) fn uuid_of(b: &[u8; 16]) -> uuid::Uuid {
    uuid::Uuid::from_bytes(*b)
}

fn record_id() -> [u8; 16] {
    *VAULT_RECORD_ITEM.as_uuid().as_bytes()
}

fn fmt_time(t: i64) -> String {
    // YYYY-MM-DD HH:MM UTC without a date crate (civil-from-days, Howard Hinnant).
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60
    )
}

/// Resolves `query` among `(id string, name, value)` candidates: exact id, exact name, then
/// unique prefix of a name or an id.
pub(crate) fn resolve<'a, T>(
    what: &'static str,
    query: &str,
    candidates: &'a [(String, String, T)],
) -> Result<&'a T> {
    let q = query.trim();
    if let Some(c) = candidates.iter().find(|c| c.0.eq_ignore_ascii_case(q)) {
        return Ok(&c.2);
    }
    let exact: Vec<_> = candidates.iter().filter(|c| c.1 == q).collect();
    let pick = |found: Vec<&'a (String, String, T)>| -> Result<Option<&'a T>> {
        match found.len() {
            0 => Ok(None),
            1 => Ok(Some(&found[0].2)),
            _ => Err(ClientError::Ambiguous {
                what,
                candidates: found
                    .iter()
                    .map(|c| format!("\"{}\" ({})", c.1, c.0))
                    .collect(),
            }),
        }
    };
    if let Some(t) = pick(exact)? {
        return Ok(t);
    }
    if !q.is_empty() {
        let ql = q.to_lowercase();
        let prefix: Vec<_> = candidates
            .iter()
            .filter(|c| c.1.to_lowercase().starts_with(&ql) || c.0.starts_with(&ql))
            .collect();
        if let Some(t) = pick(prefix)? {
            return Ok(t);
        }
    }
    Err(ClientError::NotFound {
        kind: what,
        name: query.to_owned(),
    })
}

pub(crate) fn vault_candidates(state: &CacheState) -> Vec<(String, String, [u8; 16])> {
    state
        .vaults
        .iter()
        .map(|(k, v)| (v.id.to_string(), v.record.name.clone(), *k))
        .collect()
}

pub(crate) fn entries_of(v: &CachedVault) -> Vec<ManifestEntry> {
    v.items
        .iter()
        .map(|(id, it)| ManifestEntry {
            item: *id,
            revision: it.revision,
            epoch: it.epoch,
            content_hash: it.hash,
        })
        .collect()
}

/// Opens a cached item to its fields.
fn open_cached(
    v: &CachedVault,
    id: &[u8; 16],
    it: &CachedItem,
) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
    let key = v.keys.get(&it.epoch).ok_or_else(|| {
        ClientError::Integrity(format!("vault integrity: no key for epoch {}", it.epoch))
    })?;
    let entry = ManifestEntry {
        item: *id,
        revision: it.revision,
        epoch: it.epoch,
        content_hash: it.hash,
    };
    let fields = open_fields(key, v.workspace_bytes(), v.id_bytes(), &entry, &it.sealed)
        .map_err(|e| vault_integrity(&e))?;
    Ok(fields
        .into_iter()
        .map(|(k, v)| (k, v.into_zeroizing()))
        .collect())
}

/// What a write puts at an item: new content, or a deletion.
pub(crate) enum Content<'a> {
    /// New content (the sealed fields).
    Fields(&'a [(String, Zeroizing<Vec<u8>>)]),
    /// A deletion.
    Delete,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Revisions {
    List(Vec<ItemRevision>),
    Wrapped { revisions: Vec<ItemRevision> },
}

impl Client {
    /// The note set when the last read served the cache because the server was unreachable:
    /// `offline: showing data cached at <time>`.
    pub fn offline_notice(&self) -> Option<&str> {
        let m = lock(notices());
        m.get(self.profile().dir()).copied()
    }

    fn set_offline_notice(&self, notice: Option<String>) {
        let mut m = lock(notices());
        match notice {
            Some(n) => {
                m.insert(self.profile().dir().to_path_buf(), intern(n));
            }
            None => {
                m.remove(self.profile().dir());
            }
        }
    }

    pub(crate) fn vault_ctx(&self) -> Result<Ctx> {
        let keys = self.keys()?;
        let pin =
            self.config()
                .identity_public
                .as_deref()
                .ok_or_else(|| ClientError::NotLoggedIn {
                    profile: self.profile().name().to_owned(),
                })?;
        let bytes = hex::decode(pin)
            .map_err(|_| ClientError::config(self.profile().dir(), "corrupt identity pin"))?;
        let identity = PublicKeys::from_bytes(&bytes)?;
        if keys.identity.public() != identity {
            return Err(ClientError::AccountState(
                "the unlocked identity key is not the identity pinned by this profile".into(),
            ));
        }
        Ok(Ctx {
            keys,
            identity,
            path: cache::cache_path(self.profile().dir()),
        })
    }

    pub(crate) fn load_cache(ctx: &Ctx) -> Result<CacheState> {
        let state = cache::load(&ctx.path, &ctx.keys.device, &ctx.keys.device_id)?
            .filter(|s| s.user_id == ctx.keys.user_id)
            .unwrap_or_else(|| CacheState::empty(ctx.keys.user_id, ctx.keys.device_id));
        Ok(state)
    }

    /// Runs one sync into `state` (a working copy) and saves it. Vaults failing verification
    /// keep their old state; the first such failure is returned after the save.
    pub(crate) async fn sync_into(&self, ctx: &Ctx, state: &mut CacheState) -> Result<SyncReport> {
        let net = Net::of(self)?;
        let req = SyncRequest {
            vaults: state.vaults.values().map(|v| (v.id, v.counter)).collect(),
        };
        let mut resp = net
            .send(Method::POST, "v1/sync", |r| {
                r.json(&req).header(
                    reqwest::header::ACCEPT,
                    coffer_proto::vault::SYNC_CONTENT_TYPE,
                )
            })
            .await?;
        let mut parser = FrameParser::default();
        let pins_before = crate::peers::PeerPins::load(self.profile())?;
        let mut applier = StreamApplier::new(state, &ctx.keys, &ctx.identity, pins_before.clone());
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| crate::net::transport("v1/sync", &e))?;
            let done = chunk.is_none();
            if let Some(c) = &chunk {
                parser.push(c)?;
            }
            while let Some(frame) = parser.next_frame()? {
                applier.frame(frame)?;
            }
            if done {
                break;
            }
        }
        parser.finish()?;
        let crate::sync::Applied {
            changes,
            first_err,
            changed,
            pins,
            rotation_due,
            waiting,
            acks,
            notices,
            claimed,
        } = applier.finish()?;
        if pins != pins_before {
            pins.save(self.profile())?;
        }
        // A sync that changed nothing rewrites the cache only to refresh `synced_at` (the time
        // the offline notice shows), at most every few minutes: re-encrypting a 10,000-item
        // cache costs more than the sync itself.
        let now = now_unix();
        let shape_before = cache_shape(state);
        crate::sync::Applied::apply_to(changes, state);
        let same = changed == 0 && cache_shape(state) == shape_before;
        if !same || now - state.synced_at >= SYNCED_AT_REFRESH_SECS {
            state.synced_at = now;
            cache::save(&ctx.path, state, &ctx.keys.device)?;
        }
        self.set_offline_notice(None);
        // Vaults the server says moved to a key epoch this device does not hold: nothing may be
        // written under the older key (a removed member may hold it), whatever the server does
        // with the new grant (protocol.md §20.1).
        let stale: BTreeSet<[u8; 16]> = claimed
            .iter()
            .filter(|(k, e)| state.vaults.get(*k).is_some_and(|v| v.epoch < **e))
            .map(|(k, _)| *k)
            .collect();
        set_stale(&ctx.path, stale);
        // The keys are in the cache now: acknowledge the device grants they came in (the
        // server empties them after its retention window; the identity grants stay). A failed
        // acknowledgement only keeps the grant on the server.
        if !acks.is_empty() {
            let _ = self
                .post::<_, coffer_proto::vault::AckGrantsResponse>(
                    "v1/grants/ack",
                    &coffer_proto::vault::AckGrantsRequest { grants: acks },
                )
                .await;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(SyncReport {
                vaults: state.vaults.len(),
                items_changed: changed,
                bytes: parser.bytes,
                rotated: rotation_due,
                replicated: 0,
                notices: notices
                    .into_iter()
                    .chain(waiting.iter().map(|v| {
                        format!(
                            "vault {v} is waiting for its key: you are a member, and a device \
                             of a member who holds the key grants it on its next sync"
                        )
                    }))
                    .collect(),
            }),
        }
    }

    /// Syncs the local cache with the server (a delta from the counters held), then does the
    /// key work this device is entitled to: rotates the vaults it manages that are flagged for
    /// rotation, and fulfils pending replications of the keys it holds (protocol.md §18).
    pub async fn sync(&mut self) -> Result<SyncReport> {
        let ctx = self.vault_ctx()?;
        let mut state = Self::load_cache(&ctx)?;
        let mut report = self.sync_into(&ctx, &mut state).await?;
        let due = std::mem::take(&mut report.rotated);
        for v in due {
            let vk = *v.as_uuid().as_bytes();
            // One vault failing to rotate (a concurrent writer, a member this device cannot
            // verify) does not stop the others; the flag stays for the next sync.
            match self.rotate_in(&ctx, &mut state, vk).await {
                Ok(_) => report.rotated.push(v),
                Err(e) => report
                    .notices
                    .push(format!("vault {v} is due a key rotation that failed: {e}")),
            }
        }
        let (granted, notices) = self.replicate_in(&ctx, &state).await?;
        report.replicated = granted + self.recovery_top_up_in(&ctx, &state).await?;
        report.notices.extend(notices);
        // What the rotations noticed (items shared alone that could not be re-shared).
        report.notices.extend(self.take_notices());
        Ok(report)
    }

    /// For reads: a delta sync, or the cache when the server is unreachable.
    pub(crate) async fn read_state(&self) -> Result<(Ctx, CacheState)> {
        let ctx = self.vault_ctx()?;
        let mut state = Self::load_cache(&ctx)?;
        match self.sync_into(&ctx, &mut state).await {
            Ok(_) => Ok((ctx, state)),
            Err(e) if is_offline(&e) && state.synced_at > 0 => {
                self.set_offline_notice(Some(format!(
                    "offline: showing data cached at {}",
                    fmt_time(state.synced_at)
                )));
                Ok((ctx, state))
            }
            Err(e) => Err(e),
        }
    }

    fn summary(v: &CachedVault) -> VaultSummary {
        VaultSummary {
            id: v.id,
            name: v.record.name.clone(),
            description: v.record.description.clone(),
            workspace_id: v.workspace,
            role: v.role,
            items: v.items.len().saturating_sub(1),
            epoch: v.epoch,
        }
    }

    /// Creates a personal vault, or one in `workspace` (id or name): vault key, encrypted
    /// record, grants to this device and to the user's identity, genesis manifest.
    pub async fn vault_create(
        &mut self,
        name: &str,
        workspace: Option<&str>,
    ) -> Result<VaultSummary> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ClientError::Invalid("a vault needs a name".into()));
        }
        let ctx = self.vault_ctx()?;
        let mut state = Self::load_cache(&ctx)?;
        if let Err(e) = self.sync_into(&ctx, &mut state).await
            && !matches!(e, ClientError::Integrity(_))
        {
            return Err(e);
        }
        let workspace_id = match workspace {
            Some(w) => Some(self.resolve_workspace(w).await?.workspace_id),
            None => None,
        };
        let vault_id = VaultId::new_random();
        let ws = workspace_id
            .map(|w| *w.as_uuid().as_bytes())
            .unwrap_or([0; 16]);
        let vid = *vault_id.as_uuid().as_bytes();
        let vault_key = SymmetricKey::generate()?;
        let record = VaultRecord {
            name: name.to_owned(),
            description: None,
        };
        let loc = ItemLocation {
            workspace: ws,
            vault: vid,
            item: record_id(),
            epoch: FIRST_EPOCH,
            revision: 1,
        };
        let json = record.to_json()?;
        let item_key = coffer_crypto::item::generate_item_key()?;
        let sealed = seal_item_with_key(
            &vault_key,
            &item_key,
            &loc,
            &[(VAULT_RECORD_FIELD, json.as_slice())],
        )?;
        let sealed_bytes = sealed.to_bytes()?;
        let entry = ManifestEntry::from_sealed_bytes(record_id(), 1, FIRST_EPOCH, &sealed_bytes);
        let manifest =
            ManifestBody::genesis(ws, vid, FIRST_EPOCH, vec![entry]).sign(&ctx.keys.device)?;
        let compact = manifest.to_compact()?;
        let gctx = vault_key_context(ws, vid, FIRST_EPOCH);
        let g_dev = seal_grant(
            &vault_key,
            &gctx,
            &ctx.keys.device.public(),
            &ctx.keys.device,
        )?;
        let g_user = seal_grant(&vault_key, &gctx, &ctx.identity, &ctx.keys.device)?;
        // A workspace vault's root: the creator's own manager statement (protocol.md §18.6).
        let role_statement = match workspace_id {
            Some(_) => Some(B64(coffer_crypto::statement::RoleStatement::issue(
                &ctx.keys.identity,
                *ctx.keys.user_id.as_uuid().as_bytes(),
                vid,
                *ctx.keys.user_id.as_uuid().as_bytes(),
                &ctx.identity,
                VaultRole::Manager.code(),
                u64::try_from(crate::model::now_unix()).unwrap_or(0),
            )?
            .as_bytes()
            .to_vec())),
            None => None,
        };
        let req = CreateVaultRequest {
            role_statement,
            vault_id,
            workspace_id,
            record: B64(sealed_bytes.clone()),
            manifest: B64(compact.clone()),
            grants: vec![
                VaultGrant {
                    recipient: GrantRecipient::Device(ctx.keys.device_id),
                    epoch: FIRST_EPOCH,
                    grant: B64(g_dev.into_bytes()),
                },
                VaultGrant {
                    recipient: GrantRecipient::User(ctx.keys.user_id),
                    epoch: FIRST_EPOCH,
                    grant: B64(g_user.into_bytes()),
                },
            ],
        };
        let net = Net::of(self)?;
        let _: serde_json::Value = net.json(Method::POST, "v1/vaults", Some(&req)).await?;
        let mut keys = BTreeMap::new();
        keys.insert(FIRST_EPOCH, vault_key);
        let mut items = BTreeMap::new();
        items.insert(
            record_id(),
            CachedItem {
                revision: 1,
                epoch: FIRST_EPOCH,
                counter: 0,
                hash: entry.content_hash,
                sealed: sealed_bytes,
                overview: None,
            },
        );
        let v = CachedVault {
            id: vault_id,
            workspace: workspace_id,
            role: VaultRole::Manager,
            epoch: FIRST_EPOCH,
            counter: 0,
            manifest: compact,
            head: manifest.head(),
            record,
            keys,
            items,
        };
        let summary = Self::summary(&v);
        state.vaults.insert(vid, v);
        cache::save(&ctx.path, &state, &ctx.keys.device)?;
        if let Some(ws) = workspace_id {
            self.admin_recovery_after_create(&ctx, ws, vault_id).await?;
        }
        Ok(summary)
    }

    /// Every vault this user can read, sorted by name.
    pub async fn vaults(&mut self) -> Result<Vec<VaultSummary>> {
        let (_, state) = self.read_state().await?;
        let mut out: Vec<_> = state.vaults.values().map(Self::summary).collect();
        out.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(a.id.to_string().cmp(&b.id.to_string()))
        });
        Ok(out)
    }

    /// Renames a vault (a new revision of its encrypted record).
    pub async fn vault_rename(&mut self, vault: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim();
        if new_name.is_empty() {
            return Err(ClientError::Invalid("a vault needs a name".into()));
        }
        let (ctx, mut state) = self.write_state().await?;
        let vkey = *resolve("vault", vault, &vault_candidates(&state))?;
        let v = &state.vaults[&vkey];
        if v.role != VaultRole::Manager {
            return Err(ClientError::Invalid(format!(
                "renaming vault \"{}\" needs the manager role (you are {})",
                v.record.name, v.role
            )));
        }
        let record = VaultRecord {
            name: new_name.to_owned(),
            description: v.record.description.clone(),
        };
        let json = record.to_json()?;
        let fields = vec![(VAULT_RECORD_FIELD.to_owned(), json)];
        self.write_item(
            &ctx,
            &mut state,
            vkey,
            record_id(),
            Content::Fields(&fields),
            "vault record",
        )
        .await?;
        Ok(())
    }

    /// Deletes a vault and everything in it (manager only).
    pub async fn vault_delete(&mut self, vault: &str) -> Result<()> {
        let (ctx, mut state) = self.write_state().await?;
        let vkey = *resolve("vault", vault, &vault_candidates(&state))?;
        let v = &state.vaults[&vkey];
        if v.role != VaultRole::Manager {
            return Err(ClientError::Invalid(format!(
                "deleting vault \"{}\" needs the manager role (you are {})",
                v.record.name, v.role
            )));
        }
        let net = Net::of(self)?;
        net.send(Method::DELETE, &format!("v1/vaults/{}", v.id), |r| r)
            .await?;
        state.vaults.remove(&vkey);
        cache::save(&ctx.path, &state, &ctx.keys.device)
    }

    /// For writes: a sync that must reach the server (writes never work offline).
    pub(crate) async fn write_state(&self) -> Result<(Ctx, CacheState)> {
        let ctx = self.vault_ctx()?;
        let mut state = Self::load_cache(&ctx)?;
        match self.sync_into(&ctx, &mut state).await {
            Ok(_) | Err(ClientError::Integrity(_)) => Ok((ctx, state)),
            Err(e) if is_offline(&e) => Err(ClientError::Transport {
                url: self.config().server.clone().unwrap_or_default(),
                reason: "connection failed: changes need the server (the offline cache is \
                         read-only)"
                    .into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Creates an item in a vault.
    pub async fn item_create(&mut self, vault: &str, mut data: ItemData) -> Result<Item> {
        data.validate()?;
        let (ctx, mut state) = self.write_state().await?;
        let vkey = *resolve("vault", vault, &vault_candidates(&state))?;
        let now = now_unix();
        if data.created_at == 0 {
            data.created_at = now;
        }
        data.updated_at = now;
        let id = ItemId::new_random();
        let fields = data.to_fields()?;
        let revision = self
            .write_item(
                &ctx,
                &mut state,
                vkey,
                *id.as_uuid().as_bytes(),
                Content::Fields(&fields),
                &data.name,
            )
            .await?;
        let v = &state.vaults[&vkey];
        Ok(Item {
            id,
            vault_id: v.id,
            vault_name: v.record.name.clone(),
            revision,
            data,
        })
    }

    pub(crate) fn find_item(
        state: &CacheState,
        item: &str,
        vault: Option<&str>,
    ) -> Result<([u8; 16], [u8; 16])> {
        let vaults: Vec<[u8; 16]> = match vault {
            Some(q) => vec![*resolve("vault", q, &vault_candidates(state))?],
            None => state.vaults.keys().copied().collect(),
        };
        let mut cands = Vec::new();
        for vk in vaults {
            let v = &state.vaults[&vk];
            for (id, it) in &v.items {
                if let Some(o) = &it.overview {
                    cands.push((uuid_of(id).to_string(), o.name.clone(), (vk, *id)));
                }
            }
        }
        resolve("item", item, &cands).copied()
    }

    pub(crate) fn item_of(state: &CacheState, vk: [u8; 16], id: [u8; 16]) -> Result<Item> {
        let v = &state.vaults[&vk];
        let it = v.items.get(&id).ok_or_else(|| ClientError::NotFound {
            kind: "item",
            name: uuid_of(&id).to_string(),
        })?;
        let fields = open_cached(v, &id, it)?;
        Ok(Item {
            id: ItemId::from_uuid(uuid_of(&id)),
            vault_id: v.id,
            vault_name: v.record.name.clone(),
            revision: it.revision,
            data: ItemData::from_fields(&fields)?,
        })
    }

    /// One item, decrypted.
    pub async fn item_get(&mut self, item: &str, vault: Option<&str>) -> Result<Item> {
        let (_, state) = self.read_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        Self::item_of(&state, vk, id)
    }

    /// The item and revision this profile saw at its last sync (before the write's own sync),
    /// so an edit based on it can be refused if someone else changed the item meanwhile.
    fn seen_revision(&self, item: &str, vault: Option<&str>) -> Option<([u8; 16], u64)> {
        let ctx = self.vault_ctx().ok()?;
        let before = Self::load_cache(&ctx).ok()?;
        let (vk, id) = Self::find_item(&before, item, vault).ok()?;
        Some((id, before.vaults.get(&vk)?.items.get(&id)?.revision))
    }

    fn check_seen(
        state: &CacheState,
        vk: [u8; 16],
        id: [u8; 16],
        seen: Option<([u8; 16], u64)>,
    ) -> Result<()> {
        let Some((seen_id, seen_rev)) = seen else {
            return Ok(());
        };
        let it = state.vaults.get(&vk).and_then(|v| v.items.get(&id));
        if seen_id != id || it.map(|i| i.revision) == Some(seen_rev) {
            return Ok(());
        }
        let now = it.map_or(0, |i| i.revision);
        let name = it
            .and_then(|i| i.overview.as_ref())
            .map(|o| o.name.clone())
            .unwrap_or_default();
        Err(ClientError::Conflict(format!(
            "item \"{name}\" ({}) changed since your last sync: you edited revision {seen_rev}, \
             the server has revision {now}; nothing was written (your cache is now up to date: \
             run the command again)",
            uuid_of(&id)
        )))
    }

    /// Replaces an item's content (a new revision).
    pub async fn item_update(
        &mut self,
        item: &str,
        vault: Option<&str>,
        mut data: ItemData,
    ) -> Result<Item> {
        data.validate()?;
        let seen = self.seen_revision(item, vault);
        let (ctx, mut state) = self.write_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        Self::check_seen(&state, vk, id, seen)?;
        let old = Self::item_of(&state, vk, id)?;
        if old.data.item_type != data.item_type {
            return Err(ClientError::Invalid(
                "the type of an item cannot be changed".into(),
            ));
        }
        data.created_at = old.data.created_at;
        data.updated_at = now_unix().max(old.data.updated_at);
        let fields = data.to_fields()?;
        let revision = self
            .write_item(
                &ctx,
                &mut state,
                vk,
                id,
                Content::Fields(&fields),
                &data.name,
            )
            .await?;
        Ok(Item {
            revision,
            data,
            ..old
        })
    }

    /// Deletes an item (a tombstone revision; its history stays on the server).
    pub async fn item_delete(&mut self, item: &str, vault: Option<&str>) -> Result<()> {
        let seen = self.seen_revision(item, vault);
        let (ctx, mut state) = self.write_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        Self::check_seen(&state, vk, id, seen)?;
        let name = state.vaults[&vk].items[&id]
            .overview
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_default();
        self.write_item(&ctx, &mut state, vk, id, Content::Delete, &name)
            .await?;
        Ok(())
    }

    /// Items (overviews) of one vault or of all, filtered by a case-insensitive search over
    /// name, username, URLs and tags (done here, on decrypted data).
    pub async fn items(
        &mut self,
        vault: Option<&str>,
        search: Option<&str>,
    ) -> Result<Vec<ItemSummary>> {
        let (_, state) = self.read_state().await?;
        let vaults: Vec<[u8; 16]> = match vault {
            Some(q) => vec![*resolve("vault", q, &vault_candidates(&state))?],
            None => state.vaults.keys().copied().collect(),
        };
        let needle = search
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let mut out = Vec::new();
        for vk in vaults {
            let v = &state.vaults[&vk];
            for (id, it) in &v.items {
                let Some(o) = &it.overview else { continue };
                if let Some(n) = &needle
                    && !o.matches(n)
                {
                    continue;
                }
                out.push(ItemSummary {
                    id: ItemId::from_uuid(uuid_of(id)),
                    vault_id: v.id,
                    vault_name: v.record.name.clone(),
                    item_type: o.item_type,
                    name: o.name.clone(),
                    username: o.username.clone(),
                    urls: o.urls.clone(),
                    tags: o.tags.clone(),
                    revision: it.revision,
                    updated_at: o.updated_at,
                });
            }
        }
        out.sort_by(|a, b| {
            a.vault_name
                .cmp(&b.vault_name)
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
                .then_with(|| a.id.to_string().cmp(&b.id.to_string()))
        });
        Ok(out)
    }

    /// Every kept revision of an item, newest first, decrypted.
    pub async fn item_history(
        &mut self,
        item: &str,
        vault: Option<&str>,
    ) -> Result<Vec<HistoryEntry>> {
        let (_, state) = self.read_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        self.history_of(&state, vk, id).await
    }

    async fn history_of(
        &self,
        state: &CacheState,
        vk: [u8; 16],
        id: [u8; 16],
    ) -> Result<Vec<HistoryEntry>> {
        let v = &state.vaults[&vk];
        let net = Net::of(self)?;
        let revs: Revisions = net
            .json::<(), _>(
                Method::GET,
                &format!("v1/vaults/{}/items/{}/revisions", v.id, uuid_of(&id)),
                None,
            )
            .await?;
        let mut revs = match revs {
            Revisions::List(l) | Revisions::Wrapped { revisions: l } => l,
        };
        revs.sort_by_key(|r| std::cmp::Reverse(r.revision));
        let mut out = Vec::with_capacity(revs.len());
        for r in revs {
            let data = match &r.sealed {
                None => None,
                Some(bytes) => {
                    let key = v.keys.get(&r.epoch).ok_or_else(|| {
                        ClientError::Integrity(format!(
                            "vault integrity: no key for epoch {} of revision {}",
                            r.epoch, r.revision
                        ))
                    })?;
                    let entry = ManifestEntry::from_sealed_bytes(id, r.revision, r.epoch, &bytes.0);
                    let fields =
                        open_fields(key, v.workspace_bytes(), v.id_bytes(), &entry, &bytes.0)
                            .map_err(|e| {
                                ClientError::Integrity(format!(
                                    "vault integrity: revision {} does not open: {e}",
                                    r.revision
                                ))
                            })?;
                    let fields: Vec<_> = fields
                        .into_iter()
                        .map(|(k, v)| (k, v.into_zeroizing()))
                        .collect();
                    Some(ItemData::from_fields(&fields)?)
                }
            };
            out.push(HistoryEntry {
                revision: r.revision,
                deleted: r.sealed.is_none(),
                data,
                created_at: r.created_at,
            });
        }
        Ok(out)
    }

    /// Writes the content of an old revision as a new revision.
    pub async fn item_restore(
        &mut self,
        item: &str,
        vault: Option<&str>,
        revision: u64,
    ) -> Result<Item> {
        let seen = self.seen_revision(item, vault);
        let (ctx, mut state) = self.write_state().await?;
        let (vk, id) = Self::find_item(&state, item, vault)?;
        Self::check_seen(&state, vk, id, seen)?;
        let history = self.history_of(&state, vk, id).await?;
        let mut data = history
            .into_iter()
            .find(|h| h.revision == revision)
            .and_then(|h| h.data)
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "item has no revision {revision} with content (see `coffer item history`)"
                ))
            })?;
        let current = Self::item_of(&state, vk, id)?;
        data.created_at = current.data.created_at;
        data.updated_at = now_unix().max(current.data.updated_at);
        let fields = data.to_fields()?;
        let rev = self
            .write_item(
                &ctx,
                &mut state,
                vk,
                id,
                Content::Fields(&fields),
                &data.name,
            )
            .await?;
        Ok(Item {
            revision: rev,
            data,
            ..current
        })
    }

    /// One write of §15.2, with the retries after a vault-level conflict. Returns the new
    /// revision and leaves `state` (and the cache file) updated.
    pub(crate) async fn write_item(
        &self,
        ctx: &Ctx,
        state: &mut CacheState,
        vk: [u8; 16],
        id: [u8; 16],
        content: Content<'_>,
        label: &str,
    ) -> Result<u64> {
        let base_revision = state
            .vaults
            .get(&vk)
            .and_then(|v| v.items.get(&id))
            .map_or(0, |i| i.revision);
        for attempt in 0..=WRITE_RETRIES {
            let v = state.vaults.get(&vk).ok_or_else(|| ClientError::NotFound {
                kind: "vault",
                name: uuid_of(&vk).to_string(),
            })?;
            if !v.role.can_write() {
                return Err(ClientError::Invalid(format!(
                    "vault \"{}\" is read-only for you ({})",
                    v.record.name, v.role
                )));
            }
            let current = v.items.get(&id).map_or(0, |i| i.revision);
            if current != base_revision {
                return Err(ClientError::Conflict(format!(
                    "item \"{label}\" ({}) changed since your last sync: you edited revision \
                     {base_revision}, the server has revision {current}; nothing was written, \
                     run the command again",
                    uuid_of(&id)
                )));
            }
            if is_stale(&ctx.path, &vk) {
                return Err(ClientError::Integrity(format!(
                    "vault \"{}\" moved to a key epoch this device does not hold yet (epoch {} \
                     here): nothing is written under the older key, which a removed member may \
                     hold; sync again once a manager's device grants the new key",
                    v.record.name, v.epoch
                )));
            }
            let (req, new_item) = self.build_write(ctx, v, id, &content, base_revision)?;
            let net = Net::of(self)?;
            let path = format!("v1/vaults/{}/items", v.id);
            match net
                .json::<_, WriteItemResponse>(Method::POST, &path, Some(&req))
                .await
            {
                Ok(resp) => {
                    let v = state
                        .vaults
                        .get_mut(&vk)
                        .ok_or_else(|| ClientError::NotFound {
                            kind: "vault",
                            name: uuid_of(&vk).to_string(),
                        })?;
                    let manifest = Manifest::from_compact(&req.manifest.0, {
                        let mut e = entries_of(v);
                        e.retain(|x| x.item != id);
                        if let Some(ni) = &new_item {
                            e.push(ManifestEntry {
                                item: id,
                                revision: ni.revision,
                                epoch: ni.epoch,
                                content_hash: ni.hash,
                            });
                        }
                        e
                    })?;
                    match new_item {
                        Some(mut ni) => {
                            ni.counter = resp.counter;
                            if id == record_id()
                                && let Content::Fields(f) = &content
                                && let Some((_, j)) = f.first()
                            {
                                v.record = VaultRecord::from_json(j)?;
                            }
                            v.items.insert(id, ni);
                        }
                        None => {
                            v.items.remove(&id);
                        }
                    }
                    v.counter = manifest.counter();
                    v.head = manifest.head();
                    v.manifest = req.manifest.0.clone();
                    cache::save(&ctx.path, state, &ctx.keys.device)?;
                    return Ok(req.revision);
                }
                Err(ClientError::Api {
                    code: ErrorCode::Conflict,
                    message,
                    ..
                }) if attempt < WRITE_RETRIES && !message.contains("item changed") => {
                    // Only the vault moved on: sync, then rebuild the manifest and retry.
                    match self.sync_into(ctx, state).await {
                        Ok(_) | Err(ClientError::Integrity(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(ClientError::Api {
                    code: ErrorCode::Conflict,
                    message,
                    ..
                }) => {
                    let _ = self.sync_into(ctx, state).await;
                    let now = state
                        .vaults
                        .get(&vk)
                        .and_then(|v| v.items.get(&id))
                        .map_or(0, |i| i.revision);
                    return Err(ClientError::Conflict(format!(
                        "item \"{label}\" ({}) changed since your last sync: you edited revision \
                         {base_revision}, the server has revision {now} ({message}); nothing \
                         was written, run the command again",
                        uuid_of(&id)
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Conflict(format!(
            "vault kept changing while writing item \"{label}\": gave up after {WRITE_RETRIES} retries"
        )))
    }

    /// Seals the item and the next manifest for one write attempt.
    fn build_write(
        &self,
        ctx: &Ctx,
        v: &CachedVault,
        id: [u8; 16],
        content: &Content<'_>,
        base_revision: u64,
    ) -> Result<(WriteItemRequest, Option<CachedItem>)> {
        let epoch = v.epoch;
        let vault_key = v.keys.get(&epoch).ok_or_else(|| {
            ClientError::Integrity(format!("vault integrity: no key for epoch {epoch}"))
        })?;
        let revision = base_revision + 1;
        let loc = ItemLocation {
            workspace: v.workspace_bytes(),
            vault: v.id_bytes(),
            item: id,
            epoch,
            revision,
        };
        let mut entries = entries_of(v);
        let prev = Manifest::from_compact(&v.manifest, entries.clone())
            .map_err(|e| vault_integrity(&e))?;
        entries.retain(|e| e.item != id);
        let (sealed, new_item) = match content {
            Content::Delete => (None, None),
            Content::Fields(fields) => {
                let item_key = match v.items.get(&id) {
                    Some(old) if old.epoch == epoch => {
                        let s = SealedItem::from_bytes(&old.sealed)?;
                        unwrap_item_key(vault_key, &s.item_key, &loc)
                            .map_err(|e| vault_integrity(&e))?
                    }
                    _ => coffer_crypto::item::generate_item_key()?,
                };
                let refs: Vec<(&str, &[u8])> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                let s = seal_item_with_key(vault_key, &item_key, &loc, &refs)?;
                let bytes = s.to_bytes()?;
                let entry = ManifestEntry::from_sealed_bytes(id, revision, epoch, &bytes);
                entries.push(entry);
                let overview = if id == record_id() {
                    None
                } else {
                    fields
                        .iter()
                        .find(|(k, _)| k == crate::model::OVERVIEW_FIELD)
                        .map(|(_, j)| crate::model::Overview::from_json(j))
                        .transpose()?
                };
                (
                    Some(B64(bytes.clone())),
                    Some(CachedItem {
                        revision,
                        epoch,
                        counter: v.counter + 1,
                        hash: entry.content_hash,
                        sealed: bytes,
                        overview,
                    }),
                )
            }
        };
        let next = ManifestBody::successor(&prev, epoch, entries)?.sign(&ctx.keys.device)?;
        Ok((
            WriteItemRequest {
                item_id: ItemId::from_uuid(uuid_of(&id)),
                base_counter: v.counter,
                base_revision,
                revision,
                epoch,
                sealed,
                manifest: B64(next.to_compact()?),
            },
            new_item,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_by_id_name_prefix() {
        let c = vec![
            ("aaaa-1".to_string(), "Personal".to_string(), 1),
            ("bbbb-2".to_string(), "Work".to_string(), 2),
            ("cccc-3".to_string(), "Workshop".to_string(), 3),
        ];
        assert_eq!(*resolve("vault", "Personal", &c).unwrap(), 1);
        assert_eq!(*resolve("vault", "per", &c).unwrap(), 1);
        assert_eq!(*resolve("vault", "Work", &c).unwrap(), 2);
        assert_eq!(*resolve("vault", "bbbb-2", &c).unwrap(), 2);
        assert_eq!(*resolve("vault", "cccc", &c).unwrap(), 3);
        let err = resolve("vault", "wo", &c).unwrap_err();
        assert!(matches!(err, ClientError::Ambiguous { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("\"Work\"") && msg.contains("\"Workshop\""),
            "{msg}"
        );
        assert!(matches!(
            resolve("vault", "zzz", &c).unwrap_err(),
            ClientError::NotFound { .. }
        ));
    }

    #[test]
    fn times_format() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
