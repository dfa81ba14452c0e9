//! The signed vault manifest (DESIGN §4 "Vault manifest"; THREATS "Vault structure: drop,
//! duplicate, replay, rollback").
//!
//! For one vault revision, a manifest lists every item as `(item id, item revision, key epoch,
//! content hash)` sorted by item id, where the content hash is the SHA-256 of the item's sealed
//! bytes ([`crate::item::SealedItem::to_bytes`]), so a swapped payload is caught. It also carries
//! the workspace and vault ids, the vault key epoch, a monotonic counter and the root of the
//! previous manifest, and is signed by the writing device.
//!
//! # Root and signature
//!
//! The **root** is a flat hash (no Merkle tree: at 10,000 items the body is 600 kB and hashes in
//! about a millisecond, and clients always fetch the whole list):
//!
//! ```text
//! root = SHA-256("coffer.manifest.v1" ‖ body)
//! signature = Ed25519 over "coffer.sig.v1" ‖ 0x000e ‖ "vault-manifest" ‖ root
//! ```
//!
//! where `body` is the binary form up to (not including) the signature; it includes the signer's
//! key. The body is canonical (fixed-size fields, count prefix, strictly ascending item ids), so
//! the root is a function of the manifest's content. A [`ManifestHead`] (counter, epoch, root) is
//! what a client keeps; the next manifest names this root as its `prev_root`.
//!
//! # Binary form, version 1 (`docs/protocol.md` §13)
//!
//! ```text
//! offset    size  field
//! 0         1     version = 0x01
//! 1         16    workspace id
//! 17        16    vault id
//! 33        4     vault key epoch, u32
//! 37        8     counter, u64 (0 for the first manifest of a vault)
//! 45        32    prev root (all zeros exactly when counter = 0)
//! 77        32    signer Ed25519 public key
//! 109       4     n = number of items, u32 (≤ 2^20)
//! 113       60·n  items: id:16 ‖ revision:u64 ‖ epoch:u32 ‖ content hash:32, ids strictly
//!                 ascending, every item epoch ≤ the vault key epoch
//! 113+60n   64    signature (label "vault-manifest") over the root
//! ```
//!
//! # Verification
//!
//! [`verify_manifest`] checks, in order: the signer is trusted
//! ([`CryptoError::UntrustedSigner`]); the signature ([`CryptoError::BadSignature`]); the
//! workspace and vault are the ones expected ([`CryptoError::WrongContext`]); then, against the
//! last head the client kept, freshness ([`CryptoError::Integrity`]): a lower counter is a
//! rollback; the same counter with another root, or the next counter not naming the last root
//! as `prev_root`, is a fork; a lower vault key epoch is a downgrade. [`check_items`] then
//! compares the items the server served with the manifest and names the first problem.
//!
//! A server can still withhold every newer manifest (a freeze); only out-of-band freshness
//! (another device, a push) detects that.

use sha2::{Digest as _, Sha256};

use crate::context::Id16;
use crate::error::{CryptoError, Result};
use crate::identity::{self, KeyPair, SIGNATURE_LEN};
use crate::item::{ItemLocation, SealedItem};
use crate::wire::Reader;

/// The manifest format version this build writes and reads.
pub const MANIFEST_VERSION: u8 = 1;
/// SHA-256 domain tag of the manifest root.
pub const LABEL_MANIFEST_ROOT: &[u8] = b"coffer.manifest.v1";
/// Signature label of a vault manifest.
pub const SIG_LABEL_VAULT_MANIFEST: &str = "vault-manifest";
/// Length of one item entry on the wire.
pub const ENTRY_LEN: usize = 16 + 8 + 4 + 32;
/// Length of the body before the item entries.
pub const HEADER_LEN: usize = 1 + 16 + 16 + 4 + 8 + 32 + 32 + 4;
/// Most items a manifest may list.
pub const MAX_ENTRIES: usize = 1 << 20;

const WHAT: &str = "vault manifest";

/// One item as a manifest lists it (and as a client sees it served).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestEntry {
    /// The item id.
    pub item: Id16,
    /// The item revision.
    pub revision: u64,
    /// The vault key epoch the item is sealed under.
    pub epoch: u32,
    /// SHA-256 of the item's sealed bytes.
    pub content_hash: [u8; 32],
}

impl ManifestEntry {
    /// The entry of an item whose sealed bytes are `sealed_bytes` (hashed here: a client computes
    /// the hash of what it received, never takes it from the server).
    pub fn from_sealed_bytes(item: Id16, revision: u64, epoch: u32, sealed_bytes: &[u8]) -> Self {
        Self {
            item,
            revision,
            epoch,
            content_hash: Sha256::digest(sealed_bytes).into(),
        }
    }

    /// The entry of a sealed item at `loc`.
    pub fn for_item(loc: &ItemLocation, sealed: &SealedItem) -> Result<Self> {
        Ok(Self {
            item: loc.item,
            revision: loc.revision,
            epoch: loc.epoch,
            content_hash: sealed.content_hash()?,
        })
    }

    /// Where this item is, for [`crate::item::open_item`]: the revision and epoch come from the
    /// (verified) manifest, not from the server.
    pub fn location(&self, workspace: Id16, vault: Id16) -> ItemLocation {
        ItemLocation {
            workspace,
            vault,
            item: self.item,
            epoch: self.epoch,
            revision: self.revision,
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.item);
        out.extend_from_slice(&self.revision.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.content_hash);
    }
}

/// What a client keeps of the last manifest it accepted for a vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ManifestHead {
    /// The manifest's counter.
    pub counter: u64,
    /// The manifest's vault key epoch (never allowed to go down).
    pub epoch: u32,
    /// The manifest's root (its hash).
    pub root: [u8; 32],
}

/// The content of a manifest before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestBody {
    /// The workspace.
    pub workspace: Id16,
    /// The vault.
    pub vault: Id16,
    /// The vault key epoch.
    pub epoch: u32,
    /// The counter: 0 for the first manifest, then the previous counter + 1.
    pub counter: u64,
    /// The previous manifest's root; zeros for the first.
    pub prev_root: [u8; 32],
    /// The items, in any order ([`sign`](Self::sign) sorts them).
    pub entries: Vec<ManifestEntry>,
}

impl ManifestBody {
    /// The first manifest of a vault: counter 0, no previous root.
    pub fn genesis(workspace: Id16, vault: Id16, epoch: u32, entries: Vec<ManifestEntry>) -> Self {
        Self {
            workspace,
            vault,
            epoch,
            counter: 0,
            prev_root: [0; 32],
            entries,
        }
    }

    /// The manifest that follows `prev`: same vault, counter + 1, `prev_root` = `prev`'s root.
    /// Refuses an epoch below `prev`'s (`Integrity: vault key epoch went down`).
    pub fn successor(prev: &Manifest, epoch: u32, entries: Vec<ManifestEntry>) -> Result<Self> {
        if epoch < prev.epoch() {
            return Err(CryptoError::Integrity {
                reason: "vault key epoch went down",
            });
        }
        let counter = prev
            .counter()
            .checked_add(1)
            .ok_or(CryptoError::Length("manifest counter"))?;
        Ok(Self {
            workspace: *prev.workspace(),
            vault: *prev.vault(),
            epoch,
            counter,
            prev_root: *prev.root(),
            entries,
        })
    }

    /// Sorts the entries, checks them (no duplicate id, no item epoch above the vault's, at most
    /// [`MAX_ENTRIES`], `prev_root` zero exactly when the counter is 0) and signs with `signer`.
    pub fn sign(mut self, signer: &KeyPair) -> Result<Manifest> {
        self.entries.sort_unstable_by_key(|e| e.item);
        check_body(&self)?;
        let signer_key = *signer.public().signing();
        let body = encode_body(&self, &signer_key)?;
        let root = root_of(&body);
        let signature = signer.sign(SIG_LABEL_VAULT_MANIFEST, &root)?;
        Ok(Manifest {
            body: self,
            signer: signer_key,
            signature,
            root,
        })
    }
}

fn malformed(reason: &'static str) -> CryptoError {
    CryptoError::Malformed { what: WHAT, reason }
}

/// Checks a body whose entries are already sorted.
fn check_body(b: &ManifestBody) -> Result<()> {
    if b.entries.len() > MAX_ENTRIES {
        return Err(malformed("more than 2^20 items"));
    }
    if (b.counter == 0) != (b.prev_root == [0; 32]) {
        return Err(malformed("prev root must be zero exactly for counter 0"));
    }
    if b.entries.windows(2).any(|w| w[0].item >= w[1].item) {
        return Err(malformed(
            "item ids not strictly ascending (duplicate item)",
        ));
    }
    if b.entries.iter().any(|e| e.epoch > b.epoch) {
        return Err(malformed("item epoch above the vault key epoch"));
    }
    Ok(())
}

fn encode_body(b: &ManifestBody, signer: &[u8; 32]) -> Result<Vec<u8>> {
    let n = u32::try_from(b.entries.len()).map_err(|_| CryptoError::Length("manifest items"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * b.entries.len() + SIGNATURE_LEN);
    out.push(MANIFEST_VERSION);
    out.extend_from_slice(&b.workspace);
    out.extend_from_slice(&b.vault);
    out.extend_from_slice(&b.epoch.to_be_bytes());
    out.extend_from_slice(&b.counter.to_be_bytes());
    out.extend_from_slice(&b.prev_root);
    out.extend_from_slice(signer);
    out.extend_from_slice(&n.to_be_bytes());
    for e in &b.entries {
        e.encode_into(&mut out);
    }
    Ok(out)
}

fn root_of(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LABEL_MANIFEST_ROOT);
    h.update(body);
    h.finalize().into()
}

/// What a compact manifest's header names ([`Manifest::compact_header`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactHeader {
    /// The workspace.
    pub workspace: Id16,
    /// The vault.
    pub vault: Id16,
    /// The vault key epoch.
    pub epoch: u32,
    /// The counter.
    pub counter: u64,
    /// The previous manifest's root.
    pub prev_root: [u8; 32],
    /// The signer's Ed25519 key.
    pub signer: [u8; 32],
    /// The number of entries.
    pub items: u32,
}

/// A signed vault manifest. Build with [`ManifestBody::sign`] or parse with
/// [`Manifest::from_bytes`]; check with [`verify_manifest`] before trusting anything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    body: ManifestBody,
    signer: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
    root: [u8; 32],
}

impl Manifest {
    /// Parses the binary form (see the module documentation). Never panics; faults are
    /// `Truncated`, `UnknownVersion` or `Malformed` (too many items, ids not strictly ascending,
    /// an item epoch above the vault's, counter and prev root inconsistent, trailing bytes). The
    /// encoding is canonical: a parsed manifest re-encodes to the same bytes. Parsing does not
    /// verify the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT, bytes);
        let version = r.u8()?;
        if version != MANIFEST_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let workspace = r.array::<16>()?;
        let vault = r.array::<16>()?;
        let epoch = r.u32()?;
        let counter = r.u64()?;
        let prev_root = r.array::<32>()?;
        let signer = r.array::<32>()?;
        let n = usize::try_from(r.u32()?).map_err(|_| malformed("more than 2^20 items"))?;
        if n > MAX_ENTRIES {
            return Err(malformed("more than 2^20 items"));
        }
        // Check the length before allocating for `n` entries.
        let needed = n
            .checked_mul(ENTRY_LEN)
            .and_then(|l| l.checked_add(HEADER_LEN + SIGNATURE_LEN))
            .ok_or(malformed("more than 2^20 items"))?;
        if bytes.len() < needed {
            return Err(CryptoError::Truncated {
                what: WHAT,
                at: bytes.len(),
                needed,
            });
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push(ManifestEntry {
                item: r.array()?,
                revision: r.u64()?,
                epoch: r.u32()?,
                content_hash: r.array()?,
            });
        }
        let body_len = r.position();
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        let body = ManifestBody {
            workspace,
            vault,
            epoch,
            counter,
            prev_root,
            entries,
        };
        check_body(&body)?;
        let root = root_of(bytes.get(..body_len).unwrap_or_default());
        Ok(Self {
            body,
            signer,
            signature,
            root,
        })
    }

    /// The **compact form** used on the wire (protocol.md §13.5): the header (with the entry
    /// count) and the signature, without the entry list. A client that holds the items rebuilds
    /// the entries and calls [`Manifest::from_compact`]; the signature then checks the rebuilt
    /// list, so a server that serves items differing from what the writer signed is caught by
    /// [`verify_manifest`] (`BadSignature`) — it cannot choose the entries.
    pub fn to_compact(&self) -> Result<Vec<u8>> {
        let full = self.to_bytes()?;
        let mut out = Vec::with_capacity(HEADER_LEN + SIGNATURE_LEN);
        out.extend_from_slice(full.get(..HEADER_LEN).ok_or(CryptoError::Length(WHAT))?);
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// The counter, epoch, ids and count named by a compact form, without the entries (for the
    /// server, which stores compact manifests and checks only their counters).
    pub fn compact_header(compact: &[u8]) -> Result<CompactHeader> {
        if compact.len() != HEADER_LEN + SIGNATURE_LEN {
            return Err(CryptoError::Truncated {
                what: WHAT,
                at: compact.len(),
                needed: HEADER_LEN + SIGNATURE_LEN,
            });
        }
        let mut r = Reader::new(WHAT, compact);
        let version = r.u8()?;
        if version != MANIFEST_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let workspace = r.array::<16>()?;
        let vault = r.array::<16>()?;
        let epoch = r.u32()?;
        let counter = r.u64()?;
        let prev_root = r.array::<32>()?;
        let signer = r.array::<32>()?;
        let items = r.u32()?;
        Ok(CompactHeader {
            workspace,
            vault,
            epoch,
            counter,
            prev_root,
            signer,
            items,
        })
    }

    /// Rebuilds a manifest from its compact form and the entries the client holds (any order).
    /// Fails with `Malformed` when the count differs from the compact header's or the entries
    /// break the body rules; the signature is checked later by [`verify_manifest`].
    pub fn from_compact(compact: &[u8], mut entries: Vec<ManifestEntry>) -> Result<Self> {
        let h = Self::compact_header(compact)?;
        if usize::try_from(h.items).ok() != Some(entries.len()) {
            return Err(CryptoError::Integrity {
                reason: "vault items differ from the manifest (item count)",
            });
        }
        entries.sort_unstable_by_key(|e| e.item);
        let body = ManifestBody {
            workspace: h.workspace,
            vault: h.vault,
            epoch: h.epoch,
            counter: h.counter,
            prev_root: h.prev_root,
            entries,
        };
        check_body(&body)?;
        let encoded = encode_body(&body, &h.signer)?;
        let root = root_of(&encoded);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(compact.get(HEADER_LEN..).ok_or(CryptoError::Length(WHAT))?);
        Ok(Self {
            body,
            signer: h.signer,
            signature,
            root,
        })
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = encode_body(&self.body, &self.signer)?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// The workspace.
    pub fn workspace(&self) -> &Id16 {
        &self.body.workspace
    }

    /// The vault.
    pub fn vault(&self) -> &Id16 {
        &self.body.vault
    }

    /// The vault key epoch.
    pub fn epoch(&self) -> u32 {
        self.body.epoch
    }

    /// The counter.
    pub fn counter(&self) -> u64 {
        self.body.counter
    }

    /// The previous manifest's root (zeros for counter 0).
    pub fn prev_root(&self) -> &[u8; 32] {
        &self.body.prev_root
    }

    /// The items, sorted by id.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.body.entries
    }

    /// The entry of one item, if listed.
    pub fn entry(&self, item: &Id16) -> Option<&ManifestEntry> {
        self.body
            .entries
            .binary_search_by(|e| e.item.cmp(item))
            .ok()
            .and_then(|i| self.body.entries.get(i))
    }

    /// The signer's Ed25519 public key.
    pub fn signer(&self) -> &[u8; 32] {
        &self.signer
    }

    /// The signature.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// The root: `SHA-256("coffer.manifest.v1" ‖ body)`.
    pub fn root(&self) -> &[u8; 32] {
        &self.root
    }

    /// The head a client keeps once it has verified this manifest.
    pub fn head(&self) -> ManifestHead {
        ManifestHead {
            counter: self.body.counter,
            epoch: self.body.epoch,
            root: self.root,
        }
    }
}

/// Verifies a manifest for vault `vault` of workspace `workspace`, accepting only signers in
/// `trusted_signers` (Ed25519 keys), against the last head seen (if any). Returns the head to
/// keep. See [`verify_manifest_with`].
pub fn verify_manifest(
    manifest: &Manifest,
    workspace: &Id16,
    vault: &Id16,
    trusted_signers: &[[u8; 32]],
    last_seen: Option<&ManifestHead>,
) -> Result<ManifestHead> {
    verify_manifest_with(
        manifest,
        workspace,
        vault,
        |s| trusted_signers.iter().any(|t| t == s),
        last_seen,
    )
}

/// Verifies a manifest. In order:
///
/// 1. `is_trusted(signer)` ([`CryptoError::UntrustedSigner`]);
/// 2. the signature over the root ([`CryptoError::BadSignature`]);
/// 3. workspace and vault are the expected ones ([`CryptoError::WrongContext`]);
/// 4. against `last_seen` ([`CryptoError::Integrity`]): counter below it → `vault rolled back`;
///    same counter, other root → `vault forked`; counter + 1 but `prev_root` ≠ its root →
///    `vault forked`; epoch below it → `vault key epoch went down`. The same manifest again is
///    accepted. A counter more than one ahead is accepted (the gap cannot be checked without
///    the manifests in between; use [`verify_manifest_chain`] to check them).
pub fn verify_manifest_with(
    manifest: &Manifest,
    workspace: &Id16,
    vault: &Id16,
    is_trusted: impl Fn(&[u8; 32]) -> bool,
    last_seen: Option<&ManifestHead>,
) -> Result<ManifestHead> {
    if !is_trusted(&manifest.signer) {
        return Err(CryptoError::UntrustedSigner { what: WHAT });
    }
    identity::verify(
        &manifest.signer,
        SIG_LABEL_VAULT_MANIFEST,
        &manifest.root,
        &manifest.signature,
    )
    .map_err(|_| CryptoError::BadSignature { what: WHAT })?;
    if manifest.workspace() != workspace || manifest.vault() != vault {
        return Err(CryptoError::WrongContext { what: WHAT });
    }
    if let Some(last) = last_seen {
        let head = manifest.head();
        if head.counter < last.counter {
            return Err(CryptoError::Integrity {
                reason: "vault rolled back (counter below the last seen)",
            });
        }
        if head.counter == last.counter && head.root != last.root {
            return Err(CryptoError::Integrity {
                reason: "vault forked (same counter, different manifest)",
            });
        }
        if last.counter.checked_add(1) == Some(head.counter) && manifest.prev_root() != &last.root {
            return Err(CryptoError::Integrity {
                reason: "vault forked (does not extend the last seen manifest)",
            });
        }
        if head.epoch < last.epoch {
            return Err(CryptoError::Integrity {
                reason: "vault key epoch went down",
            });
        }
    }
    Ok(manifest.head())
}

/// Verifies consecutive manifests, oldest first, each with [`verify_manifest_with`] against the
/// one before it (the first against `last_seen`), and requires each to follow the previous
/// directly (counter + 1): a gap is `Integrity: manifest chain has a gap`. Returns the head of
/// the last. An empty slice is `Malformed`.
pub fn verify_manifest_chain(
    manifests: &[Manifest],
    workspace: &Id16,
    vault: &Id16,
    is_trusted: impl Fn(&[u8; 32]) -> bool,
    last_seen: Option<&ManifestHead>,
) -> Result<ManifestHead> {
    let mut last = last_seen.copied();
    for m in manifests {
        if let Some(prev) = last
            && m.counter() != prev.counter.saturating_add(1)
            && m.counter() != prev.counter
        {
            return Err(CryptoError::Integrity {
                reason: "manifest chain has a gap",
            });
        }
        last = Some(verify_manifest_with(
            m,
            workspace,
            vault,
            &is_trusted,
            last.as_ref(),
        )?);
    }
    last.filter(|_| !manifests.is_empty())
        .ok_or(CryptoError::Malformed {
            what: "vault manifest chain",
            reason: "empty",
        })
}

/// What is wrong with one served item, compared with the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemProblem {
    /// Listed in the manifest, not served.
    Dropped,
    /// Served, not listed in the manifest.
    Added,
    /// Served more than once.
    Duplicated,
    /// Served at an older revision than the manifest lists (replay or rollback of the item).
    OldRevision,
    /// Served at a revision the manifest does not list (newer than it).
    UnknownRevision,
    /// Served under another key epoch than the manifest lists.
    WrongEpoch,
    /// Same id, revision and epoch, but the sealed bytes differ (payload swapped).
    PayloadSwapped,
}

impl ItemProblem {
    /// The reason carried by [`CryptoError::Integrity`].
    pub const fn reason(self) -> &'static str {
        match self {
            ItemProblem::Dropped => "item dropped",
            ItemProblem::Added => "item added",
            ItemProblem::Duplicated => "item duplicated",
            ItemProblem::OldRevision => "item replayed (older revision than the manifest)",
            ItemProblem::UnknownRevision => "item revision not in the manifest (newer)",
            ItemProblem::WrongEpoch => "item key epoch differs from the manifest",
            ItemProblem::PayloadSwapped => "item payload swapped (content hash differs)",
        }
    }
}

/// The first problem found by [`first_item_problem`], with the item it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemIssue {
    /// The item.
    pub item: Id16,
    /// What is wrong with it.
    pub problem: ItemProblem,
}

/// Compares the served items with the manifest. Duplicates are reported first (lowest id);
/// otherwise the item with the lowest id that has a problem, checking for it in this order:
/// dropped, added, revision, epoch, content hash. `None` when they match exactly.
pub fn first_item_problem(manifest: &Manifest, served: &[ManifestEntry]) -> Option<ItemIssue> {
    let mut got: Vec<&ManifestEntry> = served.iter().collect();
    got.sort_unstable_by_key(|e| e.item);
    if let Some(w) = got.windows(2).find(|w| w[0].item == w[1].item) {
        return Some(ItemIssue {
            item: w[0].item,
            problem: ItemProblem::Duplicated,
        });
    }
    let issue = |item, problem| Some(ItemIssue { item, problem });
    let mut want = manifest.entries().iter().peekable();
    let mut got = got.into_iter().peekable();
    loop {
        match (want.peek(), got.peek()) {
            (None, None) => return None,
            (Some(w), None) => return issue(w.item, ItemProblem::Dropped),
            (None, Some(g)) => return issue(g.item, ItemProblem::Added),
            (Some(w), Some(g)) => match w.item.cmp(&g.item) {
                core::cmp::Ordering::Less => return issue(w.item, ItemProblem::Dropped),
                core::cmp::Ordering::Greater => return issue(g.item, ItemProblem::Added),
                core::cmp::Ordering::Equal => {
                    if g.revision < w.revision {
                        return issue(w.item, ItemProblem::OldRevision);
                    }
                    if g.revision > w.revision {
                        return issue(w.item, ItemProblem::UnknownRevision);
                    }
                    if g.epoch != w.epoch {
                        return issue(w.item, ItemProblem::WrongEpoch);
                    }
                    if g.content_hash != w.content_hash {
                        return issue(w.item, ItemProblem::PayloadSwapped);
                    }
                    want.next();
                    got.next();
                }
            },
        }
    }
}

/// [`first_item_problem`] as a result: `Err(Integrity { reason })` naming the first problem
/// (`item dropped`, `item added`, `item duplicated`, `item replayed …`, `item key epoch differs
/// …`, `item payload swapped …`). `served` must be built by the client from what it received
/// ([`ManifestEntry::from_sealed_bytes`]), and `manifest` must have passed
/// [`verify_manifest`].
pub fn check_items(manifest: &Manifest, served: &[ManifestEntry]) -> Result<()> {
    match first_item_problem(manifest, served) {
        None => Ok(()),
        Some(issue) => Err(CryptoError::Integrity {
            reason: issue.problem.reason(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Seed;

    fn entry(id: u8, revision: u64) -> ManifestEntry {
        ManifestEntry::from_sealed_bytes([id; 16], revision, 1, &[id, 0xaa])
    }

    fn signer() -> KeyPair {
        KeyPair::from_seed(&Seed::from_array([7; 32])).unwrap()
    }

    fn genesis() -> Manifest {
        ManifestBody::genesis([1; 16], [2; 16], 1, vec![entry(3, 1), entry(1, 2)])
            .sign(&signer())
            .unwrap()
    }

    /// Pins the encoding and root of §13. Do not modify if it fails.
    #[test]
    fn encoding_matches_protocol_md() {
        let m = genesis();
        let kp = signer();
        let bytes = m.to_bytes().unwrap();
        let mut want = vec![1u8];
        want.extend_from_slice(&[1; 16]);
        want.extend_from_slice(&[2; 16]);
        want.extend_from_slice(&1u32.to_be_bytes());
        want.extend_from_slice(&0u64.to_be_bytes());
        want.extend_from_slice(&[0; 32]);
        want.extend_from_slice(kp.public().signing());
        want.extend_from_slice(&2u32.to_be_bytes());
        for (id, rev) in [(1u8, 2u64), (3, 1)] {
            want.extend_from_slice(&[id; 16]);
            want.extend_from_slice(&rev.to_be_bytes());
            want.extend_from_slice(&1u32.to_be_bytes());
            want.extend_from_slice(&Sha256::digest([id, 0xaa]));
        }
        assert_eq!(want.len(), HEADER_LEN + 2 * ENTRY_LEN);
        let mut h = Sha256::new();
        h.update(b"coffer.manifest.v1");
        h.update(&want);
        let root: [u8; 32] = h.finalize().into();
        assert_eq!(m.root(), &root);
        kp.public()
            .verify("vault-manifest", &root, m.signature())
            .unwrap();
        want.extend_from_slice(m.signature());
        assert_eq!(bytes, want);
        let back = Manifest::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn compact_form_round_trips_and_binds_entries() {
        let m = genesis();
        let me = *signer().public().signing();
        let compact = m.to_compact().unwrap();
        assert_eq!(compact.len(), HEADER_LEN + SIGNATURE_LEN);
        let h = Manifest::compact_header(&compact).unwrap();
        assert_eq!((h.counter, h.epoch, h.items), (0, 1, 2));
        // entries in any order rebuild the same manifest
        let back = Manifest::from_compact(&compact, vec![entry(3, 1), entry(1, 2)]).unwrap();
        assert_eq!(back, m);
        verify_manifest(&back, &[1; 16], &[2; 16], &[me], None).unwrap();
        // another revision of one item: same count, but the signature no longer verifies
        let moved = Manifest::from_compact(&compact, vec![entry(3, 2), entry(1, 2)]).unwrap();
        assert_eq!(
            verify_manifest(&moved, &[1; 16], &[2; 16], &[me], None).unwrap_err(),
            CryptoError::BadSignature { what: WHAT }
        );
        // an item dropped or added: the count differs
        assert!(matches!(
            Manifest::from_compact(&compact, vec![entry(1, 2)]).unwrap_err(),
            CryptoError::Integrity { .. }
        ));
        // duplicated item
        assert!(matches!(
            Manifest::from_compact(&compact, vec![entry(1, 2), entry(1, 2)]).unwrap_err(),
            CryptoError::Malformed { .. }
        ));
        // truncated / wrong version
        assert!(Manifest::compact_header(&compact[1..]).is_err());
        let mut v = compact.clone();
        v[0] = 2;
        assert!(matches!(
            Manifest::compact_header(&v).unwrap_err(),
            CryptoError::UnknownVersion { .. }
        ));
    }

    #[test]
    fn verify_order_and_freshness() {
        let kp = signer();
        let me = *kp.public().signing();
        let g = genesis();
        let head0 = verify_manifest(&g, &[1; 16], &[2; 16], &[me], None).unwrap();
        assert_eq!(head0, g.head());
        assert_eq!(
            verify_manifest(&g, &[1; 16], &[2; 16], &[[9; 32]], None).unwrap_err(),
            CryptoError::UntrustedSigner { what: WHAT }
        );
        assert_eq!(
            verify_manifest(&g, &[1; 16], &[3; 16], &[me], None).unwrap_err(),
            CryptoError::WrongContext { what: WHAT }
        );
        assert_eq!(
            verify_manifest(&g, &[9; 16], &[2; 16], &[me], None).unwrap_err(),
            CryptoError::WrongContext { what: WHAT }
        );
        let m1 = ManifestBody::successor(&g, 1, vec![entry(1, 3), entry(3, 1)])
            .unwrap()
            .sign(&kp)
            .unwrap();
        let head1 = verify_manifest(&m1, &[1; 16], &[2; 16], &[me], Some(&head0)).unwrap();
        // The same manifest again is fine; the old one is a rollback.
        verify_manifest(&m1, &[1; 16], &[2; 16], &[me], Some(&head1)).unwrap();
        let err = |reason| CryptoError::Integrity { reason };
        assert_eq!(
            verify_manifest(&g, &[1; 16], &[2; 16], &[me], Some(&head1)).unwrap_err(),
            err("vault rolled back (counter below the last seen)")
        );
        // A fork: another manifest with counter 1.
        let fork = ManifestBody::successor(&g, 1, vec![entry(1, 9)])
            .unwrap()
            .sign(&kp)
            .unwrap();
        assert_eq!(
            verify_manifest(&fork, &[1; 16], &[2; 16], &[me], Some(&head1)).unwrap_err(),
            err("vault forked (same counter, different manifest)")
        );
        // A successor of the fork does not extend what we saw.
        let fork2 = ManifestBody::successor(&fork, 1, vec![])
            .unwrap()
            .sign(&kp)
            .unwrap();
        assert_eq!(
            verify_manifest(&fork2, &[1; 16], &[2; 16], &[me], Some(&head1)).unwrap_err(),
            err("vault forked (does not extend the last seen manifest)")
        );
        // Epoch downgrade.
        let up = ManifestBody::successor(&m1, 2, vec![])
            .unwrap()
            .sign(&kp)
            .unwrap();
        let head2 = verify_manifest(&up, &[1; 16], &[2; 16], &[me], Some(&head1)).unwrap();
        assert_eq!(
            ManifestBody::successor(&up, 1, vec![]).unwrap_err(),
            err("vault key epoch went down")
        );
        let mut down = ManifestBody::successor(&up, 2, vec![]).unwrap();
        down.epoch = 1;
        let down = down.sign(&kp).unwrap();
        assert_eq!(
            verify_manifest(&down, &[1; 16], &[2; 16], &[me], Some(&head2)).unwrap_err(),
            err("vault key epoch went down")
        );
        // Chains.
        let trusted = |s: &[u8; 32]| *s == me;
        assert_eq!(
            verify_manifest_chain(
                &[g.clone(), m1.clone(), up.clone()],
                &[1; 16],
                &[2; 16],
                trusted,
                None
            )
            .unwrap(),
            head2
        );
        assert_eq!(
            verify_manifest_chain(&[g.clone(), up.clone()], &[1; 16], &[2; 16], trusted, None)
                .unwrap_err(),
            err("manifest chain has a gap")
        );
        let fork2_head = fork2.head();
        assert_eq!(
            verify_manifest_chain(&[fork, fork2], &[1; 16], &[2; 16], trusted, Some(&head0))
                .unwrap(),
            fork2_head
        );
        assert!(matches!(
            verify_manifest_chain(&[], &[1; 16], &[2; 16], trusted, None),
            Err(CryptoError::Malformed { .. })
        ));
    }

    #[test]
    fn bad_signature_is_reported() {
        let g = genesis();
        let me = *signer().public().signing();
        let mut bytes = g.to_bytes().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let m = Manifest::from_bytes(&bytes).unwrap();
        assert_eq!(
            verify_manifest(&m, &[1; 16], &[2; 16], &[me], None).unwrap_err(),
            CryptoError::BadSignature { what: WHAT }
        );
        // A signature by the right key under another label is refused.
        let mut forged = g.clone();
        forged.signature = signer().sign("grant", g.root()).unwrap();
        assert_eq!(
            verify_manifest(&forged, &[1; 16], &[2; 16], &[me], None).unwrap_err(),
            CryptoError::BadSignature { what: WHAT }
        );
    }

    #[test]
    fn body_rules() {
        let kp = signer();
        let dup = ManifestBody::genesis([1; 16], [2; 16], 1, vec![entry(1, 1), entry(1, 2)]);
        assert_eq!(
            dup.sign(&kp).unwrap_err(),
            malformed("item ids not strictly ascending (duplicate item)")
        );
        let mut high = ManifestBody::genesis([1; 16], [2; 16], 1, vec![entry(1, 1)]);
        high.entries[0].epoch = 2;
        assert_eq!(
            high.sign(&kp).unwrap_err(),
            malformed("item epoch above the vault key epoch")
        );
        let mut bad_prev = ManifestBody::genesis([1; 16], [2; 16], 1, vec![]);
        bad_prev.prev_root = [1; 32];
        assert!(bad_prev.sign(&kp).is_err());
        let mut bad_counter = ManifestBody::genesis([1; 16], [2; 16], 1, vec![]);
        bad_counter.counter = 1;
        assert!(bad_counter.sign(&kp).is_err());
    }

    #[test]
    fn decode_errors_are_typed() {
        let bytes = genesis().to_bytes().unwrap();
        assert!(matches!(
            Manifest::from_bytes(&[]),
            Err(CryptoError::Truncated { at: 0, .. })
        ));
        assert!(matches!(
            Manifest::from_bytes(&[2]),
            Err(CryptoError::UnknownVersion { version: 2, .. })
        ));
        for cut in 0..bytes.len() {
            assert!(matches!(
                Manifest::from_bytes(&bytes[..cut]),
                Err(CryptoError::Truncated { .. })
            ));
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Manifest::from_bytes(&long).unwrap_err(),
            malformed("trailing bytes")
        );
        // A count far beyond the input is refused before any allocation.
        let mut huge = bytes[..HEADER_LEN].to_vec();
        huge[HEADER_LEN - 4..].copy_from_slice(&0x000f_ffffu32.to_be_bytes());
        assert!(matches!(
            Manifest::from_bytes(&huge),
            Err(CryptoError::Truncated { .. })
        ));
        huge[HEADER_LEN - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Manifest::from_bytes(&huge).unwrap_err(),
            malformed("more than 2^20 items")
        );
        // Swapping the two entries breaks the order.
        let mut swapped = bytes.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + ENTRY_LEN);
        let first = swapped[a..b].to_vec();
        swapped.copy_within(b..b + ENTRY_LEN, a);
        swapped[b..b + ENTRY_LEN].copy_from_slice(&first);
        assert_eq!(
            Manifest::from_bytes(&swapped).unwrap_err(),
            malformed("item ids not strictly ascending (duplicate item)")
        );
    }

    #[test]
    fn check_items_names_each_problem() {
        let m = genesis();
        let served = m.entries().to_vec();
        check_items(&m, &served).unwrap();
        let mut rev = served.clone();
        rev.reverse();
        check_items(&m, &rev).unwrap();
        let p = |s: &[ManifestEntry]| first_item_problem(&m, s).map(|i| (i.item[0], i.problem));
        assert_eq!(p(&served[1..]), Some((1, ItemProblem::Dropped)));
        assert_eq!(p(&served[..1]), Some((3, ItemProblem::Dropped)));
        let mut added = served.clone();
        added.push(entry(2, 1));
        assert_eq!(p(&added), Some((2, ItemProblem::Added)));
        let mut dup = served.clone();
        dup.push(served[1]);
        assert_eq!(p(&dup), Some((3, ItemProblem::Duplicated)));
        let mut old = served.clone();
        old[0].revision = 1;
        assert_eq!(p(&old), Some((1, ItemProblem::OldRevision)));
        old[0].revision = 3;
        assert_eq!(p(&old), Some((1, ItemProblem::UnknownRevision)));
        let mut ep = served.clone();
        ep[1].epoch = 0;
        assert_eq!(p(&ep), Some((3, ItemProblem::WrongEpoch)));
        let mut swap = served.clone();
        swap[1].content_hash[0] ^= 1;
        assert_eq!(p(&swap), Some((3, ItemProblem::PayloadSwapped)));
        assert_eq!(
            check_items(&m, &swap).unwrap_err().to_string(),
            "vault integrity: item payload swapped (content hash differs)"
        );
        assert_eq!(
            check_items(&m, &served[1..]).unwrap_err().to_string(),
            "vault integrity: item dropped"
        );
        assert_eq!(m.entry(&[3; 16]), Some(&served[1]));
        assert_eq!(m.entry(&[2; 16]), None);
    }
}
