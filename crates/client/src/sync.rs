//! Sync (`docs/protocol.md` §15.3): the frame parser of the `application/vnd.coffer.sync.v1`
//! answer and the verification that turns served frames into cached vault state.
//!
//! The parser is incremental ([`FrameParser::push`] any slice of bytes, then take frames), so
//! the answer is read as it arrives; it rejects an unknown frame kind, a frame above
//! [`SYNC_MAX_FRAME`], a malformed payload, bytes after the end frame and a stream without one.
//!
//! [`apply_vault`] applies one vault's frames to a copy of its cached state: it opens the
//! vault-key grants (trusted signers: the pinned identity key and the devices whose
//! certificates verify under a trusted identity and that their user's device chain, served in
//! the frame and verified against the pinned head, trusts now; a grant by another signer is
//! ignored), rebuilds the manifest entries from the items it holds (hashes
//! computed here), verifies the compact manifest against the last head kept (rollback, fork,
//! epoch), checks the items against it, and opens every changed item at the revision and epoch
//! the manifest lists. Any failure is [`ClientError::Integrity`] and the caller keeps the old
//! state of that vault.

use std::collections::{BTreeMap, BTreeSet};

use coffer_crypto::chain::TrustedDevices;
use coffer_crypto::context::{Context, Purpose};
use coffer_crypto::item::{SealedItem, open_item};
use coffer_crypto::manifest::{Manifest, ManifestEntry, check_items, verify_manifest};
use coffer_crypto::{CryptoError, DeviceCertificate, Grant, PublicKeys, SymmetricKey};
use coffer_proto::api::{B64, MemberInfo};
use coffer_proto::vault::{
    AckedGrant, GrantRecipient, SYNC_ITEM_DELETED, SYNC_ITEM_HEADER_LEN, SYNC_MAX_FRAME, SyncEnd,
    SyncFrameKind, SyncVault, VAULT_RECORD_ITEM, VaultRole,
};
use coffer_proto::{ItemId, UserId, VaultId, WorkspaceId};
use sha2::{Digest, Sha256};

use crate::cache::{CachedItem, CachedVault};
use crate::error::{ClientError, Result};
use crate::model::{DETAILS_FIELD, OVERVIEW_FIELD, Overview, VAULT_RECORD_FIELD, VaultRecord};
use crate::unlock::Keys;

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Vaults held after the sync.
    pub vaults: usize,
    /// Item frames applied (changed, added or deleted items).
    pub items_changed: usize,
    /// Bytes of the answer as received (after decompression).
    pub bytes: u64,
    /// Vaults this sync rotated to a new key epoch (a member was removed or a device revoked
    /// and this user manages them).
    pub rotated: Vec<VaultId>,
    /// Grants this sync issued to members' devices and identities that lacked a key.
    pub replicated: usize,
    /// Trust notices (an owner pinned on first sight, a re-confirmed identity).
    pub notices: Vec<String>,
}

/// One item frame.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ItemFrame {
    pub(crate) item: [u8; 16],
    pub(crate) revision: u64,
    pub(crate) epoch: u32,
    pub(crate) counter: u64,
    /// `None`: deleted.
    pub(crate) sealed: Option<Vec<u8>>,
}

impl std::fmt::Debug for ItemFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemFrame")
            .field("revision", &self.revision)
            .field("deleted", &self.sealed.is_none())
            .finish_non_exhaustive()
    }
}

/// One decoded frame.
#[derive(Debug)]
pub(crate) enum Frame {
    Vault(Box<SyncVault>),
    Item(ItemFrame),
    Gone(VaultId),
    End(SyncEnd),
}

fn proto(msg: impl Into<String>) -> ClientError {
    ClientError::Protocol(format!("sync stream: {}", msg.into()))
}

/// The incremental frame parser.
#[derive(Default)]
pub(crate) struct FrameParser {
    buf: Vec<u8>,
    start: usize,
    ended: bool,
    /// Total bytes pushed.
    pub(crate) bytes: u64,
    frames: u64,
}

impl FrameParser {
    /// Adds received bytes.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<()> {
        if self.ended && !data.is_empty() {
            return Err(proto("bytes after the end frame"));
        }
        if self.start > 0 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// The next complete frame, if one is buffered.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>> {
        let avail = &self.buf[self.start..];
        if avail.is_empty() {
            return Ok(None);
        }
        if self.ended {
            return Err(proto("bytes after the end frame"));
        }
        let kind = SyncFrameKind::from_code(avail[0]).ok_or_else(|| {
            proto(format!(
                "unknown frame kind 0x{:02x} (frame {})",
                avail[0], self.frames
            ))
        })?;
        if avail.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[1], avail[2], avail[3], avail[4]]);
        if len > SYNC_MAX_FRAME {
            return Err(proto(format!(
                "frame {} of {len} bytes is above the {SYNC_MAX_FRAME}-byte limit",
                self.frames
            )));
        }
        let len = len as usize;
        if avail.len() < 5 + len {
            return Ok(None);
        }
        let payload = &avail[5..5 + len];
        let frame = decode_frame(kind, payload).map_err(|e| match e {
            ClientError::Protocol(m) => {
                ClientError::Protocol(format!("{m} (frame {})", self.frames))
            }
            other => other,
        })?;
        self.start += 5 + len;
        self.frames += 1;
        if matches!(frame, Frame::End(_)) {
            self.ended = true;
        }
        Ok(Some(frame))
    }

    /// Checks the stream ended properly: an end frame and nothing left over.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.start < self.buf.len() {
            return Err(proto(format!(
                "the answer was cut inside a frame ({} bytes left over)",
                self.buf.len() - self.start
            )));
        }
        if !self.ended {
            return Err(proto("the answer was cut: no end frame"));
        }
        Ok(())
    }
}

fn decode_frame(kind: SyncFrameKind, p: &[u8]) -> Result<Frame> {
    match kind {
        SyncFrameKind::Vault => serde_json::from_slice::<SyncVault>(p)
            .map(|v| Frame::Vault(Box::new(v)))
            .map_err(|e| proto(format!("malformed vault frame: {e}"))),
        SyncFrameKind::End => serde_json::from_slice::<SyncEnd>(p)
            .map(Frame::End)
            .map_err(|e| proto(format!("malformed end frame: {e}"))),
        SyncFrameKind::Gone => {
            let id: [u8; 16] = p
                .try_into()
                .map_err(|_| proto(format!("gone frame of {} bytes, expected 16", p.len())))?;
            Ok(Frame::Gone(VaultId::from_uuid(uuid::Uuid::from_bytes(id))))
        }
        SyncFrameKind::Item => {
            if p.len() < SYNC_ITEM_HEADER_LEN {
                return Err(proto(format!(
                    "item frame of {} bytes, shorter than its {SYNC_ITEM_HEADER_LEN}-byte header",
                    p.len()
                )));
            }
            let mut item = [0u8; 16];
            item.copy_from_slice(&p[..16]);
            let mut b8 = [0u8; 8];
            b8.copy_from_slice(&p[16..24]);
            let revision = u64::from_be_bytes(b8);
            let mut b4 = [0u8; 4];
            b4.copy_from_slice(&p[24..28]);
            let epoch = u32::from_be_bytes(b4);
            b8.copy_from_slice(&p[28..36]);
            let counter = u64::from_be_bytes(b8);
            let flags = p[36];
            let rest = &p[SYNC_ITEM_HEADER_LEN..];
            if flags & !SYNC_ITEM_DELETED != 0 {
                return Err(proto(format!(
                    "item frame with unknown flags 0x{flags:02x}"
                )));
            }
            let sealed = if flags & SYNC_ITEM_DELETED != 0 {
                if !rest.is_empty() {
                    return Err(proto("deleted item frame carries bytes"));
                }
                None
            } else {
                if rest.is_empty() {
                    return Err(proto("item frame without sealed bytes"));
                }
                Some(rest.to_vec())
            };
            Ok(Frame::Item(ItemFrame {
                item,
                revision,
                epoch,
                counter,
                sealed,
            }))
        }
    }
}

/// Encodes one frame (tests build streams with it).
#[cfg(test)]
pub(crate) fn encode_frame(kind: SyncFrameKind, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind.code());
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
}

/// Encodes an item frame's payload.
#[cfg(test)]
pub(crate) fn item_payload(f: &ItemFrame) -> Vec<u8> {
    let mut p = Vec::with_capacity(SYNC_ITEM_HEADER_LEN + f.sealed.as_ref().map_or(0, Vec::len));
    p.extend_from_slice(&f.item);
    p.extend_from_slice(&f.revision.to_be_bytes());
    p.extend_from_slice(&f.epoch.to_be_bytes());
    p.extend_from_slice(&f.counter.to_be_bytes());
    match &f.sealed {
        Some(s) => {
            p.push(0);
            p.extend_from_slice(s);
        }
        None => p.push(SYNC_ITEM_DELETED),
    }
    p
}

/// `vault integrity: <reason>` from a crypto error.
pub(crate) fn vault_integrity(e: &CryptoError) -> ClientError {
    match e {
        CryptoError::Integrity { reason } => {
            ClientError::Integrity(format!("vault integrity: {reason}"))
        }
        other => ClientError::Integrity(format!("vault integrity: {other}")),
    }
}

fn integrity(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Integrity(format!("vault integrity: {reason}"))
}

/// The Ed25519 keys trusted as signers of a vault: this user's pinned identity, and the devices
/// whose certificates (from `sv.signers`) verify under the trusted identity of the user they
/// name (`peers`, this user included; see [`crate::peers`]), name the served ids, and that the
/// user's verified device chain (`chains`, [`crate::chains`]) trusts now with exactly those keys.
/// A device the chain revoked or never added signs nothing.
pub(crate) fn trusted_signers(
    sv: &SyncVault,
    identity: &PublicKeys,
    peers: &BTreeMap<UserId, PublicKeys>,
    chains: &BTreeMap<UserId, TrustedDevices>,
) -> Vec<[u8; 32]> {
    let mut out = vec![*identity.signing()];
    for s in &sv.signers {
        let Ok(cert) = DeviceCertificate::from_bytes(&s.certificate.0) else {
            continue;
        };
        let Some(owner) = peers.get(&s.user_id) else {
            continue;
        };
        if cert.verify(owner).is_err()
            || cert.device_id() != s.device_id.as_uuid().as_bytes()
            || cert.user_id() != s.user_id.as_uuid().as_bytes()
        {
            continue;
        }
        let in_chain = chains.get(&s.user_id).is_some_and(|c| {
            c.identity() == owner
                && c.device(s.device_id.as_uuid().as_bytes())
                    .is_some_and(|d| d.keys == *cert.device_keys())
        });
        if !in_chain {
            continue;
        }
        out.push(*cert.device_keys().signing());
    }
    out
}

/// The user whose key signed a manifest: this user for its identity key, else the user of the
/// served signer device whose certificate verifies under that user's trusted identity.
fn signer_owner(
    sv: &SyncVault,
    me: UserId,
    identity: &PublicKeys,
    peers: &BTreeMap<UserId, PublicKeys>,
    signer: &[u8; 32],
) -> Option<UserId> {
    if signer == identity.signing() {
        return Some(me);
    }
    sv.signers.iter().find_map(|s| {
        let cert = DeviceCertificate::from_bytes(&s.certificate.0).ok()?;
        let owner = peers.get(&s.user_id)?;
        (cert.verify(owner).is_ok()
            && cert.device_id() == s.device_id.as_uuid().as_bytes()
            && cert.user_id() == s.user_id.as_uuid().as_bytes()
            && cert.device_keys().signing() == signer)
            .then_some(s.user_id)
    })
}

/// The verified roles of a workspace vault's members (`crate::statements`), or why there are
/// none.
pub(crate) type VerifiedRoles = core::result::Result<BTreeMap<UserId, VaultRole>, String>;

/// Context of a vault-key grant.
pub(crate) fn vault_key_context(workspace: [u8; 16], vault: [u8; 16], epoch: u32) -> Context {
    Context::new(Purpose::VaultKey)
        .with_workspace(workspace)
        .with_vault(vault)
        .with_epoch(epoch)
}

/// Opens an item's sealed bytes at `entry` and returns its named fields.
pub(crate) fn open_fields(
    key: &SymmetricKey,
    workspace: [u8; 16],
    vault: [u8; 16],
    entry: &ManifestEntry,
    sealed: &[u8],
) -> core::result::Result<BTreeMap<String, coffer_crypto::SecretVec>, CryptoError> {
    let s = SealedItem::from_bytes(sealed)?;
    open_item(key, &s, &entry.location(workspace, vault))
}

/// Applies one vault's frames to (a copy of) its cached state and verifies everything; see the
/// module documentation. `old` is the cached state (none for a vault new to this client).
/// `peers`, `roles` and `chains` are the three trust inputs (identities, role statements,
/// device chains), each verified by its own module.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_vault(
    old: Option<&CachedVault>,
    sv: &SyncVault,
    frames: &[ItemFrame],
    keys: &Keys,
    identity: &PublicKeys,
    peers: &BTreeMap<UserId, PublicKeys>,
    roles: Option<&VerifiedRoles>,
    chains: &BTreeMap<UserId, TrustedDevices>,
) -> Result<CachedVault> {
    let ws = sv
        .workspace_id
        .map(|w| *w.as_uuid().as_bytes())
        .unwrap_or([0; 16]);
    let vid = *sv.vault_id.as_uuid().as_bytes();
    if let Some(o) = old
        && o.workspace != sv.workspace_id
    {
        return Err(integrity("the vault moved to another workspace"));
    }
    let trusted = trusted_signers(sv, identity, peers, chains);
    // Vault keys: those held, plus every grant served.
    let mut vkeys: BTreeMap<u32, SymmetricKey> = old
        .map(|o| o.keys.iter().map(|(e, k)| (*e, k.duplicate())).collect())
        .unwrap_or_default();
    let mut refused_grant: Option<CryptoError> = None;
    for g in &sv.grants {
        let recipient = match g.recipient {
            GrantRecipient::Device(d) if d == keys.device_id => &keys.device,
            GrantRecipient::User(u) if u == keys.user_id => &keys.identity,
            _ => continue,
        };
        if vkeys.contains_key(&g.epoch) {
            continue;
        }
        let grant = Grant::from_bytes(&g.grant.0).map_err(|e| integrity(format!("grant: {e}")))?;
        let opened = coffer_crypto::grant::open_grant_with(
            &grant,
            recipient,
            |s| trusted.iter().any(|t| t == s),
            &vault_key_context(ws, vid, g.epoch),
        );
        match opened {
            Ok(k) => {
                vkeys.insert(g.epoch, k);
            }
            // A grant by a signer this device does not trust (now: e.g. a revoked device) is
            // ignored; another grant of the epoch may still open. If none does, the epoch's
            // key is missing below and this is the reason given.
            Err(e @ CryptoError::UntrustedSigner { .. }) => {
                refused_grant.get_or_insert(e);
            }
            Err(e) => return Err(vault_integrity(&e)),
        }
    }
    let missing_key = |epoch: u32| match &refused_grant {
        Some(e) => vault_integrity(e),
        None => integrity(format!("no key for epoch {epoch}")),
    };
    // Items: the held set (for a delta) with the frames applied.
    let mut items: BTreeMap<[u8; 16], CachedItem> = match (sv.full, old) {
        (true, _) => BTreeMap::new(),
        (false, Some(o)) => o.items.clone(),
        (false, None) => {
            return Err(ClientError::Protocol(
                "sync stream: a delta for a vault this client does not hold".into(),
            ));
        }
    };
    let mut seen = BTreeSet::new();
    let mut changed = BTreeSet::new();
    for f in frames {
        if !seen.insert(f.item) {
            return Err(integrity("item duplicated"));
        }
        match &f.sealed {
            None => {
                if f.item == *VAULT_RECORD_ITEM.as_uuid().as_bytes() {
                    return Err(integrity("the vault record was deleted"));
                }
                items.remove(&f.item);
            }
            Some(bytes) => {
                changed.insert(f.item);
                items.insert(
                    f.item,
                    CachedItem {
                        revision: f.revision,
                        epoch: f.epoch,
                        counter: f.counter,
                        hash: Sha256::digest(bytes).into(),
                        sealed: bytes.clone(),
                        overview: None,
                    },
                );
            }
        }
    }
    let entries: Vec<ManifestEntry> = items
        .iter()
        .map(|(id, it)| ManifestEntry {
            item: *id,
            revision: it.revision,
            epoch: it.epoch,
            content_hash: it.hash,
        })
        .collect();
    let manifest =
        Manifest::from_compact(&sv.manifest.0, entries.clone()).map_err(|e| vault_integrity(&e))?;
    let head = verify_manifest(&manifest, &ws, &vid, &trusted, old.map(|o| &o.head))
        .map_err(|e| vault_integrity(&e))?;
    check_items(&manifest, &entries).map_err(|e| vault_integrity(&e))?;
    // A workspace vault's manifest new to this device must come from an editor or manager
    // whose role a manager signed (protocol.md §18.6), not from the server's word.
    if let Some(roles) = roles
        && old.is_none_or(|o| o.head != head)
    {
        let roles = roles
            .as_ref()
            .map_err(|why| integrity(format!("refusing the vault's roles: {why}")))?;
        let writer = signer_owner(sv, keys.user_id, identity, peers, manifest.signer());
        let role = writer.and_then(|u| roles.get(&u));
        if !role.is_some_and(|r| r.can_write()) {
            return Err(integrity(format!(
                "refusing a write signed by {}: its verified role in this vault is {} (no \
                 editor or manager role statement signed by a manager chains to the vault's \
                 creator)",
                writer.map_or_else(|| "an unknown device".to_owned(), |u| format!("user {u}")),
                role.map_or("none", |r| r.as_str())
            )));
        }
    }
    if manifest.counter() != sv.counter || manifest.epoch() != sv.epoch {
        return Err(integrity(
            "the served counter or epoch differs from the signed manifest",
        ));
    }
    // Open every changed item (and the record, whose name the cache keeps decrypted).
    let record_id = *VAULT_RECORD_ITEM.as_uuid().as_bytes();
    let mut record = old.map(|o| o.record.clone());
    if !items.contains_key(&record_id) {
        return Err(integrity("the vault record is missing"));
    }
    if changed.contains(&record_id) || record.is_none() {
        changed.insert(record_id);
    }
    for id in &changed {
        let entry = manifest
            .entry(id)
            .ok_or_else(|| integrity("item dropped"))?;
        let key = vkeys
            .get(&entry.epoch)
            .ok_or_else(|| missing_key(entry.epoch))?;
        let it = items.get_mut(id).ok_or_else(|| integrity("item dropped"))?;
        let fields =
            open_fields(key, ws, vid, entry, &it.sealed).map_err(|e| vault_integrity(&e))?;
        if *id == record_id {
            let v = fields
                .get(VAULT_RECORD_FIELD)
                .ok_or_else(|| integrity("the vault record has no field v"))?;
            record = Some(
                VaultRecord::from_json(v.expose_secret())
                    .map_err(|e| integrity(format!("vault record: {e}")))?,
            );
        } else {
            if fields.len() != 2 || !fields.contains_key(DETAILS_FIELD) {
                return Err(integrity("item fields are not the overview and details"));
            }
            let o = fields
                .get(OVERVIEW_FIELD)
                .ok_or_else(|| integrity("item has no overview"))?;
            it.overview = Some(Overview::from_json(o.expose_secret()).map_err(|e| {
                integrity(format!(
                    "item {}: {e}",
                    ItemId::from_uuid(uuid::Uuid::from_bytes(*id))
                ))
            })?);
        }
    }
    let record = record.ok_or_else(|| integrity("the vault record is missing"))?;
    Ok(CachedVault {
        id: sv.vault_id,
        workspace: sv.workspace_id,
        role: sv.role,
        epoch: sv.epoch,
        counter: sv.counter,
        manifest: sv.manifest.0.clone(),
        head,
        record,
        keys: vkeys,
        items,
    })
}

/// Whether the served vault frame is exactly the state `held` (a delta with no item frame, the
/// same signed manifest, counter, epoch and workspace, and every grant to this device or user
/// of an epoch already held).
fn unchanged(held: &CachedVault, sv: &SyncVault, frames: &[ItemFrame], keys: &Keys) -> bool {
    !sv.full
        && frames.is_empty()
        && held.workspace == sv.workspace_id
        && held.counter == sv.counter
        && held.epoch == sv.epoch
        && held.manifest == sv.manifest.0
        && sv
            .grants
            .iter()
            .all(|g| !is_ours(keys, &g.recipient) || held.keys.contains_key(&g.epoch))
}

/// Whether a grant goes to this device or to this user's identity.
fn is_ours(keys: &Keys, r: &GrantRecipient) -> bool {
    match r {
        GrantRecipient::Device(d) => *d == keys.device_id,
        GrantRecipient::User(u) => *u == keys.user_id,
    }
}

/// Applies decoded frames, vault by vault, to a working copy of the cache.
pub(crate) struct StreamApplier<'a> {
    /// The cached state the stream applies to; never modified (a failed stream leaves it).
    base: &'a crate::cache::CacheState,
    /// The vaults this stream replaced (`Some`) or removed (`None`), applied by the caller with
    /// [`Applied::apply_to`]. Nothing is copied for a vault the stream leaves as it was.
    changes: BTreeMap<[u8; 16], Option<CachedVault>>,
    keys: &'a Keys,
    identity: &'a PublicKeys,
    pins: crate::peers::PeerPins,
    rotation_due: Vec<VaultId>,
    waiting: Vec<VaultId>,
    acks: Vec<AckedGrant>,
    notices: Vec<String>,
    claimed: BTreeMap<[u8; 16], u32>,
    current: Option<(Box<SyncVault>, Vec<ItemFrame>)>,
    /// Per workspace: the member list last served in this stream and the identities it gave.
    /// Every vault frame of a workspace carries the same list; evaluating it again against the
    /// pins it just updated gives the same set, so it is evaluated once per stream.
    trusted: BTreeMap<WorkspaceId, (Vec<MemberInfo>, BTreeMap<UserId, PublicKeys>)>,
    /// Per user: the identity and links of a device chain verified in this stream, and the
    /// outcome. The same chain served in another vault frame is not verified again.
    verified_chains: BTreeMap<UserId, (PublicKeys, Vec<B64>, TrustedDevices)>,
    first_err: Option<ClientError>,
    changed: usize,
    n_vaults: u64,
    n_items: u64,
    end: Option<SyncEnd>,
}

impl<'a> StreamApplier<'a> {
    /// Starts from the cached state.
    pub(crate) fn new(
        base: &'a crate::cache::CacheState,
        keys: &'a Keys,
        identity: &'a PublicKeys,
        pins: crate::peers::PeerPins,
    ) -> Self {
        Self {
            base,
            changes: BTreeMap::new(),
            keys,
            identity,
            pins,
            rotation_due: Vec::new(),
            waiting: Vec::new(),
            acks: Vec::new(),
            notices: Vec::new(),
            claimed: BTreeMap::new(),
            current: None,
            trusted: BTreeMap::new(),
            verified_chains: BTreeMap::new(),
            first_err: None,
            changed: 0,
            n_vaults: 0,
            n_items: 0,
            end: None,
        }
    }

    fn flush(&mut self) {
        let Some((sv, frames)) = self.current.take() else {
            return;
        };
        let key = *sv.vault_id.as_uuid().as_bytes();
        self.claimed.insert(key, sv.epoch);
        let peers = match sv.workspace_id {
            Some(ws) if !sv.peers.is_empty() => match self.trusted.get(&ws) {
                Some((served, ids)) if *served == sv.peers => ids.clone(),
                _ => {
                    let set = self
                        .pins
                        .trust(self.keys.user_id, self.identity, ws, &sv.peers);
                    for n in set.notices {
                        if !self.notices.contains(&n) {
                            self.notices.push(n);
                        }
                    }
                    self.trusted
                        .insert(ws, (sv.peers.clone(), set.identities.clone()));
                    set.identities
                }
            },
            _ => BTreeMap::from([(self.keys.user_id, *self.identity)]),
        };
        if sv.rotation_due && sv.role == coffer_proto::vault::VaultRole::Manager {
            self.rotation_due.push(sv.vault_id);
        }
        // A member with no key of the current epoch, held or granted, waits for one (a share
        // whose grants a device will replicate, a rotation not yet granted to this member): the
        // vault keeps its last verified state. A grant that is served but does not verify is
        // an integrity error below, never a wait.
        let old: Option<&CachedVault> = match self.changes.get(&key) {
            Some(c) => c.as_ref(),
            None => self.base.vaults.get(&key),
        };
        let held = old.is_some_and(|o| o.keys.contains_key(&sv.epoch));
        if !held
            && !sv
                .grants
                .iter()
                .any(|g| g.epoch == sv.epoch && is_ours(self.keys, &g.recipient))
        {
            self.waiting.push(sv.vault_id);
            return;
        }
        let newly_granted: Vec<u32> = sv
            .grants
            .iter()
            .filter(|g| g.recipient == GrantRecipient::Device(self.keys.device_id))
            .filter(|g| !old.is_some_and(|o| o.keys.contains_key(&g.epoch)))
            .map(|g| g.epoch)
            .collect();
        let roles = sv.workspace_id.map(|_| {
            crate::statements::verified_roles(&mut self.pins, sv.vault_id, &sv.roles, &peers)
        });
        // Each signer's device chain, verified against this profile's pins: a rolled-back or
        // forked chain fails the vault loudly, naming the user.
        let mut chains = BTreeMap::new();
        let mut chain_err = None;
        for c in &sv.signer_chains {
            let Some(identity) = peers.get(&c.user_id) else {
                continue;
            };
            let who = sv
                .peers
                .iter()
                .find(|m| m.user_id == c.user_id)
                .map_or_else(|| c.user_id.to_string(), |m| m.email.clone());
            let who = if c.user_id == self.keys.user_id {
                "your own account".to_owned()
            } else {
                who
            };
            if let Some((id, links, t)) = self.verified_chains.get(&c.user_id)
                && id == identity
                && *links == c.links
            {
                chains.insert(c.user_id, t.clone());
                continue;
            }
            match crate::chains::check_chain(&mut self.pins, c.user_id, &who, identity, &c.links) {
                Ok(t) => {
                    self.verified_chains
                        .insert(c.user_id, (*identity, c.links.clone(), t.clone()));
                    chains.insert(c.user_id, t);
                }
                Err(e) => {
                    chain_err.get_or_insert(e);
                }
            }
        }
        let applied = match chain_err {
            Some(e) => Err(e),
            // The very state this device verified and holds (same signed manifest, no item
            // frame, no grant of an epoch it lacks): nothing to re-verify or rebuild, only the
            // role the server now reports. Role statements and chains were checked above, so
            // their pins still move forward.
            None if old.is_some_and(|o| unchanged(o, &sv, &frames, self.keys)) => {
                if let Some(o) = old
                    && o.role != sv.role
                {
                    let mut v = o.clone();
                    v.role = sv.role;
                    self.changes.insert(key, Some(v));
                }
                return;
            }
            None => apply_vault(
                old,
                &sv,
                &frames,
                self.keys,
                self.identity,
                &peers,
                roles.as_ref(),
                &chains,
            ),
        };
        match applied {
            Ok(v) => {
                self.changed += frames.len();
                for epoch in newly_granted {
                    if v.keys.contains_key(&epoch) {
                        self.acks.push(AckedGrant {
                            vault_id: sv.vault_id,
                            epoch,
                        });
                    }
                }
                self.changes.insert(key, Some(v));
            }
            Err(e) => {
                if self.first_err.is_none() {
                    let m = match e {
                        ClientError::Integrity(m) => m,
                        other => format!("vault integrity: {other}"),
                    };
                    self.first_err = Some(ClientError::Integrity(format!(
                        "{m} (vault {}): it keeps its last verified state",
                        sv.vault_id
                    )));
                }
            }
        }
    }

    /// Takes one frame.
    pub(crate) fn frame(&mut self, frame: Frame) -> Result<()> {
        if self.end.is_some() {
            return Err(proto("a frame after the end frame"));
        }
        match frame {
            Frame::Vault(sv) => {
                self.flush();
                self.n_vaults += 1;
                self.current = Some((sv, Vec::new()));
            }
            Frame::Item(it) => {
                self.n_items += 1;
                match self.current.as_mut() {
                    Some((_, frames)) => frames.push(it),
                    None => return Err(proto("an item frame before any vault frame")),
                }
            }
            Frame::Gone(id) => {
                self.flush();
                self.changes.insert(*id.as_uuid().as_bytes(), None);
            }
            Frame::End(e) => {
                self.flush();
                self.end = Some(e);
            }
        }
        Ok(())
    }

    /// Ends the stream: the new state, the first vault failure (those vaults kept their old
    /// state), the number of item frames applied, the pins (with what this stream pinned) and
    /// the vaults flagged for a rotation this user may do.
    pub(crate) fn finish(mut self) -> Result<Applied> {
        self.flush();
        let end = self
            .end
            .ok_or_else(|| proto("the answer was cut: no end frame"))?;
        if end.vaults != self.n_vaults || end.items != self.n_items {
            return Err(proto(format!(
                "the end frame counts {} vaults and {} items, the stream held {} and {}",
                end.vaults, end.items, self.n_vaults, self.n_items
            )));
        }
        Ok(Applied {
            changes: self.changes,
            first_err: self.first_err,
            changed: self.changed,
            pins: self.pins,
            rotation_due: self.rotation_due,
            waiting: self.waiting,
            acks: self.acks,
            notices: self.notices,
            claimed: self.claimed,
        })
    }
}

/// What [`StreamApplier::finish`] returns.
pub(crate) struct Applied {
    /// The vaults replaced (`Some`) or removed (`None`): see [`Applied::apply_to`].
    pub(crate) changes: BTreeMap<[u8; 16], Option<CachedVault>>,
    pub(crate) first_err: Option<ClientError>,
    pub(crate) changed: usize,
    pub(crate) pins: crate::peers::PeerPins,
    pub(crate) rotation_due: Vec<VaultId>,
    /// Vaults this member has no key of the current epoch for (nothing granted yet).
    pub(crate) waiting: Vec<VaultId>,
    /// Grants to this device opened for the first time (to acknowledge).
    pub(crate) acks: Vec<AckedGrant>,
    /// Trust notices (an owner pinned on first sight, a re-confirmed identity).
    pub(crate) notices: Vec<String>,
    /// The key epoch each served vault frame claimed (applied or not).
    pub(crate) claimed: BTreeMap<[u8; 16], u32>,
}

impl Applied {
    /// Applies the stream's vault changes to `state` (the state the applier started from).
    pub(crate) fn apply_to(
        changes: BTreeMap<[u8; 16], Option<CachedVault>>,
        state: &mut crate::cache::CacheState,
    ) {
        for (k, v) in changes {
            match v {
                Some(v) => {
                    state.vaults.insert(k, v);
                }
                None => {
                    state.vaults.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheState;
    use crate::model::{ItemData, ItemType};
    use coffer_crypto::KeyPair;
    use coffer_crypto::item::{ItemLocation, seal_item};
    use coffer_crypto::manifest::ManifestBody;
    use coffer_proto::api::B64;
    use coffer_proto::vault::{SignerChain, SignerDevice, VaultGrant, VaultRole};
    use coffer_proto::{DeviceId, UserId};

    fn keys() -> (Keys, SignerDevice) {
        let identity = KeyPair::generate().unwrap();
        let device = KeyPair::generate().unwrap();
        let user_id = UserId::new_random();
        let device_id = DeviceId::new_random();
        let cert = DeviceCertificate::issue(
            &identity,
            *user_id.as_uuid().as_bytes(),
            *device_id.as_uuid().as_bytes(),
            &device.public(),
            1,
        )
        .unwrap();
        let signer = SignerDevice {
            device_id,
            user_id,
            certificate: B64(cert.as_bytes().to_vec()),
        };
        (
            Keys {
                user_id,
                device_id,
                device,
                identity,
            },
            signer,
        )
    }

    /// item → (revision, counter, sealed bytes or deleted)
    type Rows = BTreeMap<[u8; 16], (u64, u64, Option<Vec<u8>>)>;

    /// A server-side view of one vault, written with real crypto.
    struct Fixture {
        id: VaultId,
        key: SymmetricKey,
        /// item → (revision, counter, sealed bytes or deleted)
        items: Rows,
        manifest: Manifest,
        grants: Vec<VaultGrant>,
        signer: SignerDevice,
        /// The signer's user's device chain (genesis adding the signer device).
        chain: Vec<SignerChain>,
    }

    impl Fixture {
        fn new(k: &Keys, signer: &SignerDevice) -> Self {
            let id = VaultId::new_random();
            let key = SymmetricKey::generate().unwrap();
            let vid = *id.as_uuid().as_bytes();
            let ctx = vault_key_context([0; 16], vid, 1);
            let grant =
                coffer_crypto::seal_grant(&key, &ctx, &k.device.public(), &k.device).unwrap();
            let genesis = ManifestBody::genesis([0; 16], vid, 1, vec![])
                .sign(&k.device)
                .unwrap();
            let mut f = Fixture {
                id,
                key,
                items: BTreeMap::new(),
                manifest: genesis,
                grants: vec![VaultGrant {
                    recipient: GrantRecipient::Device(k.device_id),
                    epoch: 1,
                    grant: B64(grant.into_bytes()),
                }],
                signer: signer.clone(),
                chain: {
                    let cert = DeviceCertificate::from_bytes(&signer.certificate.0).unwrap();
                    let l0 = coffer_crypto::chain::ChainLink::add(
                        None,
                        *signer.device_id.as_uuid().as_bytes(),
                        cert.device_keys(),
                        1,
                        &k.identity,
                    )
                    .unwrap();
                    vec![SignerChain {
                        user_id: signer.user_id,
                        links: vec![B64(l0.as_bytes().to_vec())],
                    }]
                },
            };
            // Rebuild as a proper genesis holding the record.
            let rec = f.seal(record_id(), 1, &[(VAULT_RECORD_FIELD, br#"{"name":"V"}"#)]);
            let e = ManifestEntry::from_sealed_bytes(record_id(), 1, 1, &rec);
            f.manifest = ManifestBody::genesis([0; 16], vid, 1, vec![e])
                .sign(&k.device)
                .unwrap();
            f.items.insert(record_id(), (1, 0, Some(rec)));
            f
        }

        fn seal(&self, item: [u8; 16], revision: u64, fields: &[(&str, &[u8])]) -> Vec<u8> {
            let loc = ItemLocation {
                workspace: [0; 16],
                vault: *self.id.as_uuid().as_bytes(),
                item,
                epoch: 1,
                revision,
            };
            seal_item(&self.key, &loc, fields)
                .unwrap()
                .to_bytes()
                .unwrap()
        }

        fn entries(&self) -> Vec<ManifestEntry> {
            self.items
                .iter()
                .filter_map(|(id, (rev, _, s))| {
                    s.as_ref()
                        .map(|s| ManifestEntry::from_sealed_bytes(*id, *rev, 1, s))
                })
                .collect()
        }

        /// Writes an item (new revision) and the next manifest.
        fn write(&mut self, k: &Keys, item: [u8; 16], name: &str) {
            let rev = self.items.get(&item).map_or(0, |x| x.0) + 1;
            let data = ItemData::new(ItemType::Login, name);
            let fields = data.to_fields().unwrap();
            let refs: Vec<(&str, &[u8])> = fields
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            let sealed = self.seal(item, rev, &refs);
            let counter = self.manifest.counter() + 1;
            self.items.insert(item, (rev, counter, Some(sealed)));
            self.manifest = ManifestBody::successor(&self.manifest, 1, self.entries())
                .unwrap()
                .sign(&k.device)
                .unwrap();
        }

        fn delete(&mut self, k: &Keys, item: [u8; 16]) {
            let rev = self.items[&item].0 + 1;
            let counter = self.manifest.counter() + 1;
            self.items.insert(item, (rev, counter, None));
            self.manifest = ManifestBody::successor(&self.manifest, 1, self.entries())
                .unwrap()
                .sign(&k.device)
                .unwrap();
        }

        /// What the server sends to a client holding `since` (None: everything).
        fn serve(&self, since: Option<u64>) -> (SyncVault, Vec<ItemFrame>) {
            let frames = self
                .items
                .iter()
                .filter(|(_, (_, c, s))| match since {
                    None => s.is_some(),
                    Some(h) => *c > h,
                })
                .map(|(id, (rev, c, s))| ItemFrame {
                    item: *id,
                    revision: *rev,
                    epoch: 1,
                    counter: *c,
                    sealed: s.clone(),
                })
                .collect();
            (
                SyncVault {
                    vault_id: self.id,
                    workspace_id: None,
                    epoch: 1,
                    counter: self.manifest.counter(),
                    role: VaultRole::Manager,
                    full: since.is_none(),
                    manifest: B64(self.manifest.to_compact().unwrap()),
                    grants: self.grants.clone(),
                    signers: vec![self.signer.clone()],
                    peers: Vec::new(),
                    rotation_due: false,
                    roles: Vec::new(),
                    signer_chains: self.chain.clone(),
                },
                frames,
            )
        }
    }

    fn record_id() -> [u8; 16] {
        *VAULT_RECORD_ITEM.as_uuid().as_bytes()
    }

    fn iid(n: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[0] = n;
        a
    }

    fn stream(vaults: &[(SyncVault, Vec<ItemFrame>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = 0u64;
        for (sv, items) in vaults {
            encode_frame(
                SyncFrameKind::Vault,
                &serde_json::to_vec(sv).unwrap(),
                &mut out,
            );
            for it in items {
                n += 1;
                encode_frame(SyncFrameKind::Item, &item_payload(it), &mut out);
            }
        }
        let end = SyncEnd {
            vaults: vaults.len() as u64,
            items: n,
        };
        encode_frame(
            SyncFrameKind::End,
            &serde_json::to_vec(&end).unwrap(),
            &mut out,
        );
        out
    }

    /// Runs a whole stream through the parser (in small pieces) and the applier.
    fn run(
        state: &CacheState,
        bytes: &[u8],
        k: &Keys,
    ) -> Result<(CacheState, Option<ClientError>, usize)> {
        let identity = k.identity.public();
        let mut p = FrameParser::default();
        let mut a = StreamApplier::new(state, k, &identity, Default::default());
        for piece in bytes.chunks(7) {
            p.push(piece)?;
            while let Some(f) = p.next_frame()? {
                a.frame(f)?;
            }
        }
        p.finish()?;
        let done = a.finish()?;
        let mut after = state.clone();
        Applied::apply_to(done.changes, &mut after);
        Ok((after, done.first_err, done.changed))
    }

    fn integrity_of(r: Result<(CacheState, Option<ClientError>, usize)>) -> String {
        match r {
            Ok((_, Some(ClientError::Integrity(m)), _)) => m,
            Ok((_, other, _)) => panic!("expected an integrity error, got {other:?}"),
            Err(e) => panic!("expected an integrity error, got {e}"),
        }
    }

    fn setup() -> (Keys, Fixture, CacheState) {
        let (k, signer) = keys();
        let mut f = Fixture::new(&k, &signer);
        f.write(&k, iid(1), "alpha");
        f.write(&k, iid(2), "beta");
        f.write(&k, iid(3), "gamma");
        let empty = CacheState::empty(k.user_id, k.device_id);
        let (s, _, n) = run(&empty, &stream(&[f.serve(None)]), &k).unwrap();
        assert_eq!(n, 4);
        (k, f, s)
    }

    fn vault_of<'s>(s: &'s CacheState, f: &Fixture) -> &'s CachedVault {
        &s.vaults[f.id.as_uuid().as_bytes()]
    }

    #[test]
    fn full_then_delta_sync_applies() {
        let (k, mut f, s) = setup();
        let v = vault_of(&s, &f);
        assert_eq!(v.record.name, "V");
        assert_eq!(v.items.len(), 4);
        assert_eq!(v.items[&iid(2)].overview.as_ref().unwrap().name, "beta");
        let held = v.counter;
        f.write(&k, iid(2), "beta2");
        f.delete(&k, iid(3));
        f.write(&k, iid(4), "delta");
        let (s2, err, n) = run(&s, &stream(&[f.serve(Some(held))]), &k).unwrap();
        assert!(err.is_none(), "{err:?}");
        assert_eq!(n, 3);
        let v = vault_of(&s2, &f);
        assert_eq!(v.items[&iid(2)].overview.as_ref().unwrap().name, "beta2");
        assert!(!v.items.contains_key(&iid(3)));
        assert_eq!(v.items[&iid(1)].overview.as_ref().unwrap().name, "alpha");
        assert_eq!(v.counter, f.manifest.counter());
        // Same manifest again (nothing new) is fine.
        let (s3, err, n) = run(&s2, &stream(&[f.serve(Some(v.counter))]), &k).unwrap();
        assert!(err.is_none() && n == 0);
        assert_eq!(vault_of(&s3, &f).head, v.head);
    }

    #[test]
    fn unchanged_delta_keeps_the_held_state_and_another_manifest_is_still_verified() {
        use coffer_proto::vault::VaultRole;
        let (k, f, s) = setup();
        let held = vault_of(&s, &f).counter;
        // Nothing new, a role change only: the held state, with the served role.
        let (mut sv, frames) = f.serve(Some(held));
        assert!(frames.is_empty());
        assert_ne!(sv.role, VaultRole::Viewer);
        sv.role = VaultRole::Viewer;
        let (s2, err, n) = run(&s, &stream(&[(sv.clone(), Vec::new())]), &k).unwrap();
        assert!(err.is_none() && n == 0, "{err:?}");
        let mut expected = s.clone();
        if let Some(v) = expected.vaults.values_mut().next() {
            v.role = VaultRole::Viewer;
        }
        assert_eq!(crate::cache::encode(&s2), crate::cache::encode(&expected));
        // Same counter and epoch but other manifest bytes: not the held state, so it is
        // verified, and a damaged signature is refused.
        let mut forged = sv.clone();
        if let Some(b) = forged.manifest.0.last_mut() {
            *b ^= 1;
        }
        let r = run(&s, &stream(&[(forged, Vec::new())]), &k);
        let after = r.as_ref().unwrap().0.clone();
        let m = integrity_of(r);
        assert!(m.contains("vault"), "{m}");
        assert_unchanged(&s, &after, &f);
    }

    fn assert_unchanged(before: &CacheState, after: &CacheState, f: &Fixture) {
        assert_eq!(
            crate::cache::encode(before),
            crate::cache::encode(after),
            "a failing vault must keep its old state"
        );
        let _ = vault_of(after, f);
    }

    #[test]
    fn dropped_item_is_refused() {
        let (k, mut f, s) = setup();
        f.write(&k, iid(5), "new");
        let (sv, mut frames) = f.serve(None);
        frames.retain(|x| x.item != iid(1));
        let r = run(&s, &stream(&[(sv, frames)]), &k);
        let (after, _, _) = r.as_ref().map(|x| (x.0.clone(), (), ())).unwrap();
        let m = integrity_of(r);
        assert!(
            m.starts_with("vault integrity: ") && m.contains("item count"),
            "{m}"
        );
        assert_unchanged(&s, &after, &f);
    }

    #[test]
    fn duplicated_item_is_refused() {
        let (k, mut f, s) = setup();
        f.write(&k, iid(1), "alpha2");
        let held = vault_of(&s, &f).counter;
        let (sv, mut frames) = f.serve(Some(held));
        frames.push(frames[0].clone());
        let m = integrity_of(run(&s, &stream(&[(sv, frames)]), &k));
        assert!(m.contains("item duplicated"), "{m}");
    }

    #[test]
    fn replayed_old_revision_is_refused() {
        let (k, mut f, s) = setup();
        let old = f.items[&iid(1)].clone();
        let held = vault_of(&s, &f).counter;
        f.write(&k, iid(1), "alpha2");
        let (sv, mut frames) = f.serve(Some(held));
        frames[0].revision = old.0;
        frames[0].sealed = old.2.clone();
        let r = run(&s, &stream(&[(sv, frames)]), &k);
        let after = r.as_ref().unwrap().0.clone();
        let m = integrity_of(r);
        assert!(m.starts_with("vault integrity: "), "{m}");
        assert_unchanged(&s, &after, &f);
        // Served as the new revision number with the old bytes: caught too.
        let (sv, mut frames) = f.serve(Some(held));
        frames[0].sealed = old.2;
        let m = integrity_of(run(&s, &stream(&[(sv, frames)]), &k));
        assert!(m.contains("signature verification failed"), "{m}");
    }

    #[test]
    fn swapped_payloads_are_refused() {
        let (k, f, _) = setup();
        let empty = CacheState::empty(k.user_id, k.device_id);
        let (sv, mut frames) = f.serve(None);
        let a = frames.iter().position(|x| x.item == iid(1)).unwrap();
        let b = frames.iter().position(|x| x.item == iid(2)).unwrap();
        let tmp = frames[a].sealed.clone();
        frames[a].sealed = frames[b].sealed.clone();
        frames[b].sealed = tmp;
        let r = run(&empty, &stream(&[(sv, frames)]), &k);
        assert!(r.as_ref().unwrap().0.vaults.is_empty(), "nothing shown");
        let m = integrity_of(r);
        assert!(m.starts_with("vault integrity: "), "{m}");
    }

    #[test]
    fn item_moved_from_another_vault_is_refused() {
        let (k, f, s) = setup();
        let mut other = Fixture::new(&k, &f.signer);
        other.write(&k, iid(1), "elsewhere");
        let (sv, mut frames) = f.serve(None);
        let foreign = other
            .serve(None)
            .1
            .into_iter()
            .find(|x| x.item == iid(1))
            .unwrap();
        let a = frames.iter().position(|x| x.item == iid(1)).unwrap();
        frames[a] = foreign;
        let m = integrity_of(run(&s, &stream(&[(sv, frames)]), &k));
        assert!(m.starts_with("vault integrity: "), "{m}");
    }

    #[test]
    fn rollback_of_the_whole_vault_is_refused() {
        let (k, mut f, _) = setup();
        let empty = CacheState::empty(k.user_id, k.device_id);
        let old_view = f.serve(None);
        f.write(&k, iid(4), "later");
        let (s, err, _) = run(&empty, &stream(&[f.serve(None)]), &k).unwrap();
        assert!(err.is_none());
        // The server now serves the older, validly signed state in full.
        let r = run(&s, &stream(&[old_view]), &k);
        let after = r.as_ref().unwrap().0.clone();
        let m = integrity_of(r);
        assert!(m.contains("vault rolled back"), "{m}");
        assert_unchanged(&s, &after, &f);
    }

    #[test]
    fn untrusted_signer_is_refused() {
        let (k, mut f, s) = setup();
        let held = vault_of(&s, &f).counter;
        // A manifest signed by a device whose certificate is not from the pinned identity.
        let (rogue, rogue_signer) = keys();
        f.write(&k, iid(1), "x");
        f.manifest = ManifestBody::successor(&f.manifest, 1, f.entries())
            .unwrap()
            .sign(&rogue.device)
            .unwrap();
        f.signer = rogue_signer;
        let m = integrity_of(run(&s, &stream(&[f.serve(Some(held))]), &k));
        assert!(m.contains("signer is not trusted"), "{m}");
    }

    #[test]
    fn malformed_streams_are_refused() {
        let (k, f, s) = setup();
        let good = stream(&[f.serve(None)]);
        // Truncated anywhere.
        for cut in [1, 4, 10, good.len() / 2, good.len() - 1] {
            let e = run(&s, &good[..cut], &k).err().unwrap().to_string();
            assert!(e.contains("cut"), "cut {cut}: {e}");
        }
        // Missing end frame.
        let mut no_end = Vec::new();
        let (sv, items) = f.serve(None);
        encode_frame(
            SyncFrameKind::Vault,
            &serde_json::to_vec(&sv).unwrap(),
            &mut no_end,
        );
        for it in &items {
            encode_frame(SyncFrameKind::Item, &item_payload(it), &mut no_end);
        }
        let e = run(&s, &no_end, &k).err().unwrap().to_string();
        assert!(e.contains("no end frame"), "{e}");
        // Unknown kind.
        let mut bad = vec![0x09, 0, 0, 0, 0];
        bad.extend_from_slice(&good);
        let e = run(&s, &bad, &k).err().unwrap().to_string();
        assert!(e.contains("unknown frame kind 0x09"), "{e}");
        // Oversize frame (refused from its header, before the bytes arrive).
        let mut p = FrameParser::default();
        p.push(&[0x02, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
        let e = p.next_frame().err().unwrap().to_string();
        assert!(e.contains("above the"), "{e}");
        // Bytes after the end frame.
        let mut extra = good.clone();
        extra.push(0x01);
        let e = run(&s, &extra, &k).err().unwrap().to_string();
        assert!(e.contains("after the end frame"), "{e}");
        // Short item frame, bad flags, malformed JSON.
        let mut short = Vec::new();
        encode_frame(SyncFrameKind::Item, &[0; 10], &mut short);
        let mut p = FrameParser::default();
        p.push(&short).unwrap();
        assert!(
            p.next_frame()
                .err()
                .unwrap()
                .to_string()
                .contains("shorter")
        );
        let mut flags = item_payload(&items[0]);
        flags[36] = 0x80;
        let mut b = Vec::new();
        encode_frame(SyncFrameKind::Item, &flags, &mut b);
        let mut p = FrameParser::default();
        p.push(&b).unwrap();
        assert!(p.next_frame().err().unwrap().to_string().contains("flags"));
        let mut b = Vec::new();
        encode_frame(SyncFrameKind::Vault, b"{not json", &mut b);
        let mut p = FrameParser::default();
        p.push(&b).unwrap();
        assert!(
            p.next_frame()
                .err()
                .unwrap()
                .to_string()
                .contains("malformed vault frame")
        );
        // End counts that do not match.
        let mut lying = Vec::new();
        encode_frame(
            SyncFrameKind::Vault,
            &serde_json::to_vec(&sv).unwrap(),
            &mut lying,
        );
        encode_frame(
            SyncFrameKind::End,
            &serde_json::to_vec(&SyncEnd {
                vaults: 1,
                items: 99,
            })
            .unwrap(),
            &mut lying,
        );
        let e = run(&s, &lying, &k).err().unwrap().to_string();
        assert!(e.contains("end frame counts"), "{e}");
    }
}
