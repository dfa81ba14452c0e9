//! Items of a local (zero-knowledge) vault (DESIGN §2 "Key hierarchy", §3, §4 "Key separation").
//!
//! ```text
//! vault key (per vault, per epoch)
//!   └─ wraps ─► item key (random per item)            envelope, Purpose::ItemKey
//!                 ├─ HKDF "coffer.item.field.v1"  (revision ‖ field name) ─► field subkey ─► field envelope, Purpose::ItemField
//!                 ├─ HKDF "coffer.item.index.v1"  (revision)              ─► index subkey ─► index envelope, Purpose::ItemField, no field
//!                 └─ HKDF "coffer.item.attachment-key.v1" ("")            ─► wraps file keys, Purpose::AttachmentKey
//! ```
//!
//! Every envelope's context names the workspace, vault, item and key epoch of its
//! [`ItemLocation`]; a field envelope's context also names the field, and an attachment key's the
//! attachment id. A ciphertext moved to another field, item, vault, workspace or epoch, or an item
//! key moved to another item, does not open ([`CryptoError::OpenFailed`]).
//!
//! **Revision binding.** The item key lives across revisions (it is wrapped once per epoch); the
//! **revision is bound into the field and index subkeys**, so a field or a whole item sealed for
//! revision `r` opens only when the caller expects revision `r`. The caller takes the expected
//! revision from the verified vault manifest ([`crate::manifest`]), which is what detects a
//! rollback or replay of the vault as a whole.
//!
//! **Field set binding, names hidden.** [`seal_item`] also seals an *index* (under its own
//! subkey) listing every field name with the SHA-256 of its envelope. A [`SealedItem`] stores the
//! field envelopes in the index's order and no names: the server sees how many fields an item has
//! and how long they are, not what they are called. [`open_item`] refuses a sealed item whose
//! field envelopes are not exactly those of its index: a field dropped, added, reordered or
//! replaced (even by a field of the same item and revision written by another device) is
//! [`CryptoError::Integrity`].
//!
//! **Item keys and epochs.** [`seal_item`] makes a fresh item key; [`seal_item_with_key`] reuses
//! one (edits within an epoch, so a shared item's [`Purpose::ItemGrant`] stays valid). When an
//! item moves to a new epoch because a member or device was removed, use [`seal_item`]: the
//! removed party may hold the old item key.
//!
//! **Attachments.** A random file key per attachment is wrapped by the item key's attachment
//! subkey ([`wrap_file_key`]); the content is a stream ([`crate::stream`]) under the file key with
//! [`attachment_context`]. The stream context carries epoch 0: the file key is unique to the
//! stream, so the stream survives an epoch move untouched while its file-key wrap is redone. The
//! SDK should record each attachment (id, size, wrapped file key) in a field of its item, so the
//! item index covers the attachment list.
//!
//! The binary form of a [`SealedItem`] and of the index and item-key plaintexts are specified in
//! `docs/protocol.md`, §12.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::context::{Context, Id16, MAX_FIELD_LEN, Purpose};
use crate::envelope::{self, Envelope};
use crate::error::{CryptoError, Result};
use crate::key::{KeyId, SymmetricKey};
use crate::secret::{SecretBytes, SecretVec};
use crate::wire::Reader;

/// Subkey label of the per-field keys (info = `revision:u64 ‖ field name`).
pub const LABEL_ITEM_FIELD: &str = "coffer.item.field.v1";
/// Subkey label of the per-revision index key (info = `revision:u64`).
pub const LABEL_ITEM_INDEX: &str = "coffer.item.index.v1";
/// Subkey label of the key that wraps attachment file keys (info empty).
pub const LABEL_ITEM_ATTACHMENT_KEY: &str = "coffer.item.attachment-key.v1";

/// Version of the item-key plaintext (`version ‖ key id ‖ key`).
pub const ITEM_KEY_VERSION: u8 = 1;
/// Version of the index plaintext.
pub const ITEM_INDEX_VERSION: u8 = 1;
/// Version of the [`SealedItem`] binary form.
pub const SEALED_ITEM_VERSION: u8 = 1;
/// Most fields an item may have.
pub const MAX_FIELDS: usize = 1024;
/// Longest field name or attachment id, in bytes (the context's limit).
pub const MAX_FIELD_NAME_LEN: usize = MAX_FIELD_LEN;

/// Length of the item-key plaintext: `version:1 ‖ key id:16 ‖ key:32`.
const ITEM_KEY_PLAINTEXT_LEN: usize = 1 + 16 + 32;
const HASH_LEN: usize = 32;

const WHAT_ITEM: &str = "sealed item";
const WHAT_INDEX: &str = "item index";
const WHAT_ITEM_KEY: &str = "item key";
const WHAT_FIELDS: &str = "item fields";

/// Where an item lives and which version of it is meant. Ids are the 16 bytes of the UUIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemLocation {
    /// The workspace.
    pub workspace: Id16,
    /// The vault.
    pub vault: Id16,
    /// The item.
    pub item: Id16,
    /// The vault key epoch the item is sealed under.
    pub epoch: u32,
    /// The item revision (bound into the field and index subkeys).
    pub revision: u64,
}

impl ItemLocation {
    fn base(&self, purpose: Purpose) -> Context {
        Context::new(purpose)
            .with_workspace(self.workspace)
            .with_vault(self.vault)
            .with_item(self.item)
            .with_epoch(self.epoch)
    }

    /// Context of the item key wrapped by the vault key: `ItemKey`, workspace, vault, item, epoch.
    pub fn item_key_context(&self) -> Context {
        self.base(Purpose::ItemKey)
    }

    /// Context of one field: `ItemField`, workspace, vault, item, `field`, epoch.
    pub fn field_context(&self, field: &str) -> Result<Context> {
        check_name(field)?;
        self.base(Purpose::ItemField).with_field(field)
    }

    /// Context of the index: `ItemField`, workspace, vault, item, epoch, **no field** (so it is
    /// distinct from every field's context).
    pub fn index_context(&self) -> Context {
        self.base(Purpose::ItemField)
    }

    /// Context of an attachment's wrapped file key: `AttachmentKey`, workspace, vault, item,
    /// `attachment` (its id), epoch.
    pub fn attachment_key_context(&self, attachment: &str) -> Result<Context> {
        check_name(attachment)?;
        self.base(Purpose::AttachmentKey).with_field(attachment)
    }
}

/// Context of an attachment's stream: `Attachment`, workspace, vault, item, `attachment` (its
/// id), epoch 0 (the file key is unique to the stream; see the module documentation).
pub fn attachment_context(loc: &ItemLocation, attachment: &str) -> Result<Context> {
    check_name(attachment)?;
    Context::new(Purpose::Attachment)
        .with_workspace(loc.workspace)
        .with_vault(loc.vault)
        .with_item(loc.item)
        .with_field(attachment)
}

/// A field name or attachment id: 1..=1024 bytes.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(CryptoError::Malformed {
            what: WHAT_FIELDS,
            reason: "empty field name",
        });
    }
    if name.len() > MAX_FIELD_NAME_LEN {
        return Err(CryptoError::Malformed {
            what: WHAT_FIELDS,
            reason: "field name longer than 1024 bytes",
        });
    }
    Ok(())
}

/// A fresh random item key (random material and key id).
pub fn generate_item_key() -> Result<SymmetricKey> {
    SymmetricKey::generate()
}

/// Wraps `item_key` under `vault_key`: an envelope with context
/// [`ItemLocation::item_key_context`] whose plaintext is `0x01 ‖ key id:16 ‖ key:32`. The
/// revision of `loc` is not bound (the item key lives across revisions).
pub fn wrap_item_key(
    vault_key: &SymmetricKey,
    item_key: &SymmetricKey,
    loc: &ItemLocation,
) -> Result<Envelope> {
    let mut pt = Zeroizing::new(Vec::with_capacity(ITEM_KEY_PLAINTEXT_LEN));
    pt.push(ITEM_KEY_VERSION);
    pt.extend_from_slice(&item_key.id().0);
    pt.extend_from_slice(item_key.expose_secret());
    envelope::seal(vault_key, &loc.item_key_context(), &pt)
}

/// Unwraps an item key made by [`wrap_item_key`] for the same location (epoch included).
/// A wrong key, context or altered byte is [`CryptoError::OpenFailed`].
pub fn unwrap_item_key(
    vault_key: &SymmetricKey,
    wrapped: &Envelope,
    loc: &ItemLocation,
) -> Result<SymmetricKey> {
    let pt = envelope::open(vault_key, &loc.item_key_context(), wrapped)?;
    let bytes = pt.expose_secret();
    if bytes.len() != ITEM_KEY_PLAINTEXT_LEN {
        return Err(CryptoError::Malformed {
            what: WHAT_ITEM_KEY,
            reason: "wrong plaintext length",
        });
    }
    if bytes[0] != ITEM_KEY_VERSION {
        return Err(CryptoError::UnknownVersion {
            what: WHAT_ITEM_KEY,
            version: bytes[0],
        });
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[1..17]);
    let secret = SecretBytes::<32>::from_slice(&bytes[17..])?;
    SymmetricKey::from_secret(KeyId(id), secret)
}

fn field_key(item_key: &SymmetricKey, loc: &ItemLocation, field: &str) -> Result<SymmetricKey> {
    let mut info = Vec::with_capacity(8 + field.len());
    info.extend_from_slice(&loc.revision.to_be_bytes());
    info.extend_from_slice(field.as_bytes());
    item_key.derive_subkey(LABEL_ITEM_FIELD, &info)
}

fn index_key(item_key: &SymmetricKey, loc: &ItemLocation) -> Result<SymmetricKey> {
    item_key.derive_subkey(LABEL_ITEM_INDEX, &loc.revision.to_be_bytes())
}

fn attachment_wrap_key(item_key: &SymmetricKey) -> Result<SymmetricKey> {
    item_key.derive_subkey(LABEL_ITEM_ATTACHMENT_KEY, b"")
}

/// Seals one field value under its subkey
/// `item_key.derive_subkey("coffer.item.field.v1", revision:u64 ‖ field)`, bound to
/// [`ItemLocation::field_context`]. The field name is 1..=1024 bytes.
pub fn seal_field(
    item_key: &SymmetricKey,
    loc: &ItemLocation,
    field: &str,
    value: &[u8],
) -> Result<Envelope> {
    let ctx = loc.field_context(field)?;
    envelope::seal(&field_key(item_key, loc, field)?, &ctx, value)
}

/// Opens one field sealed by [`seal_field`] for exactly this location, revision and field name.
/// Any mismatch or alteration is [`CryptoError::OpenFailed`].
pub fn open_field(
    item_key: &SymmetricKey,
    loc: &ItemLocation,
    field: &str,
    sealed: &Envelope,
) -> Result<SecretVec> {
    let ctx = loc.field_context(field)?;
    envelope::open(&field_key(item_key, loc, field)?, &ctx, sealed)
}

/// Wraps an attachment's `file_key` under the item key's attachment subkey
/// (`"coffer.item.attachment-key.v1"`), context [`ItemLocation::attachment_key_context`];
/// plaintext `0x01 ‖ key id:16 ‖ key:32` as for item keys.
pub fn wrap_file_key(
    item_key: &SymmetricKey,
    loc: &ItemLocation,
    attachment: &str,
    file_key: &SymmetricKey,
) -> Result<Envelope> {
    let ctx = loc.attachment_key_context(attachment)?;
    let mut pt = Zeroizing::new(Vec::with_capacity(ITEM_KEY_PLAINTEXT_LEN));
    pt.push(ITEM_KEY_VERSION);
    pt.extend_from_slice(&file_key.id().0);
    pt.extend_from_slice(file_key.expose_secret());
    envelope::seal(&attachment_wrap_key(item_key)?, &ctx, &pt)
}

/// Unwraps a file key made by [`wrap_file_key`] for the same item, epoch and attachment id.
pub fn unwrap_file_key(
    item_key: &SymmetricKey,
    loc: &ItemLocation,
    attachment: &str,
    wrapped: &Envelope,
) -> Result<SymmetricKey> {
    let ctx = loc.attachment_key_context(attachment)?;
    let pt = envelope::open(&attachment_wrap_key(item_key)?, &ctx, wrapped)?;
    let bytes = pt.expose_secret();
    if bytes.len() != ITEM_KEY_PLAINTEXT_LEN || bytes[0] != ITEM_KEY_VERSION {
        return Err(CryptoError::Malformed {
            what: "file key",
            reason: "bad plaintext",
        });
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[1..17]);
    SymmetricKey::from_secret(KeyId(id), SecretBytes::<32>::from_slice(&bytes[17..])?)
}

/// A whole sealed item, as stored: the wrapped item key, the sealed index, and one envelope per
/// field **in the index's order** (field names ascending). Field names appear only inside the
/// index and the envelopes' associated data, never in clear: the server sees how many fields an
/// item has and their sizes, not what they are. [`open_item`] refuses a field list that differs
/// from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedItem {
    /// The item key wrapped by the vault key ([`wrap_item_key`]).
    pub item_key: Envelope,
    /// The index: every field name with the SHA-256 of its envelope, sealed for this revision.
    pub index: Envelope,
    /// The field envelopes ([`seal_field`]), in the order of the index.
    pub fields: Vec<Envelope>,
}

/// Seals a whole item with a **fresh** item key. Field names must be distinct, 1..=1024 bytes,
/// at most [`MAX_FIELDS`] of them; their order does not matter.
pub fn seal_item(
    vault_key: &SymmetricKey,
    loc: &ItemLocation,
    fields: &[(&str, &[u8])],
) -> Result<SealedItem> {
    let item_key = generate_item_key()?;
    seal_item_with_key(vault_key, &item_key, loc, fields)
}

/// Seals a whole item with an existing item key (an edit within the same epoch).
pub fn seal_item_with_key(
    vault_key: &SymmetricKey,
    item_key: &SymmetricKey,
    loc: &ItemLocation,
    fields: &[(&str, &[u8])],
) -> Result<SealedItem> {
    if fields.len() > MAX_FIELDS {
        return Err(CryptoError::Malformed {
            what: WHAT_FIELDS,
            reason: "more than 1024 fields",
        });
    }
    let mut sorted: Vec<&(&str, &[u8])> = fields.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(CryptoError::Malformed {
            what: WHAT_FIELDS,
            reason: "duplicate field name",
        });
    }
    let mut index_pt = Zeroizing::new(Vec::with_capacity(3 + fields.len() * (2 + 16 + HASH_LEN)));
    index_pt.push(ITEM_INDEX_VERSION);
    index_pt.extend_from_slice(&len_u16(fields.len(), WHAT_INDEX)?);
    let mut sealed = Vec::with_capacity(fields.len());
    for (name, value) in sorted {
        let env = seal_field(item_key, loc, name, value)?;
        index_pt.extend_from_slice(&len_u16(name.len(), WHAT_INDEX)?);
        index_pt.extend_from_slice(name.as_bytes());
        index_pt.extend_from_slice(&envelope_hash(&env));
        sealed.push(env);
    }
    let index = envelope::seal(&index_key(item_key, loc)?, &loc.index_context(), &index_pt)?;
    Ok(SealedItem {
        item_key: wrap_item_key(vault_key, item_key, loc)?,
        index,
        fields: sealed,
    })
}

/// Opens a whole item: unwraps its item key with `vault_key`, then [`open_item_with_key`].
pub fn open_item(
    vault_key: &SymmetricKey,
    sealed: &SealedItem,
    loc: &ItemLocation,
) -> Result<BTreeMap<String, SecretVec>> {
    let item_key = unwrap_item_key(vault_key, &sealed.item_key, loc)?;
    open_item_with_key(&item_key, sealed, loc)
}

/// Opens a whole item with its item key (e.g. one shared alone by an item grant). In order: the
/// index must open for `loc` (its revision included) ([`CryptoError::OpenFailed`]); the field
/// envelopes must be exactly the index's, in its order ([`CryptoError::Integrity`]: `item field
/// dropped` when there are fewer, `item field added` when there are more, `item field replaced`
/// when an envelope's hash differs from the index's at its position); then every field must open
/// ([`CryptoError::OpenFailed`]).
pub fn open_item_with_key(
    item_key: &SymmetricKey,
    sealed: &SealedItem,
    loc: &ItemLocation,
) -> Result<BTreeMap<String, SecretVec>> {
    let index_pt = envelope::open(
        &index_key(item_key, loc)?,
        &loc.index_context(),
        &sealed.index,
    )?;
    let index = decode_index(index_pt.expose_secret())?;
    check_against_index(&index, &sealed.fields)?;
    let mut out = BTreeMap::new();
    for ((name, _), env) in index.into_iter().zip(&sealed.fields) {
        let value = open_field(item_key, loc, &name, env)?;
        out.insert(name, value);
    }
    Ok(out)
}

/// The field names of an item, from its index (for a reader that wants to list the fields before
/// opening them). Same checks as [`open_item_with_key`] up to, not including, opening the fields.
pub fn item_field_names(
    item_key: &SymmetricKey,
    sealed: &SealedItem,
    loc: &ItemLocation,
) -> Result<Vec<String>> {
    let index_pt = envelope::open(
        &index_key(item_key, loc)?,
        &loc.index_context(),
        &sealed.index,
    )?;
    let index = decode_index(index_pt.expose_secret())?;
    check_against_index(&index, &sealed.fields)?;
    Ok(index.into_iter().map(|(name, _)| name).collect())
}

fn envelope_hash(env: &Envelope) -> [u8; HASH_LEN] {
    Sha256::digest(env.as_bytes()).into()
}

fn len_u16(n: usize, what: &'static str) -> Result<[u8; 2]> {
    u16::try_from(n)
        .map(u16::to_be_bytes)
        .map_err(|_| CryptoError::Length(what))
}

fn len_u32(n: usize, what: &'static str) -> Result<[u8; 4]> {
    u32::try_from(n)
        .map(u32::to_be_bytes)
        .map_err(|_| CryptoError::Length(what))
}

fn read_count(r: &mut Reader<'_>, what: &'static str) -> Result<usize> {
    let n = usize::from(r.u16()?);
    if n > MAX_FIELDS {
        return Err(CryptoError::Malformed {
            what,
            reason: "more than 1024 fields",
        });
    }
    Ok(n)
}

/// Index plaintext: `0x01 ‖ n:u16 ‖ n × (name_len:u16 ‖ name ‖ SHA-256(field envelope):32)`,
/// names 1..=1024 bytes of UTF-8 in strictly ascending byte order.
fn decode_index(bytes: &[u8]) -> Result<Vec<(String, [u8; HASH_LEN])>> {
    let mut r = Reader::new(WHAT_INDEX, bytes);
    let version = r.u8()?;
    if version != ITEM_INDEX_VERSION {
        return Err(CryptoError::UnknownVersion {
            what: WHAT_INDEX,
            version,
        });
    }
    let n = read_count(&mut r, WHAT_INDEX)?;
    let mut out: Vec<(String, [u8; HASH_LEN])> = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::from(r.u16()?);
        let name = core::str::from_utf8(r.take(len)?).map_err(|_| CryptoError::Malformed {
            what: WHAT_INDEX,
            reason: "field name is not UTF-8",
        })?;
        check_name(name)?;
        if out
            .last()
            .is_some_and(|(p, _)| p.as_bytes() >= name.as_bytes())
        {
            return Err(CryptoError::Malformed {
                what: WHAT_INDEX,
                reason: "field names not in strictly ascending order",
            });
        }
        out.push((name.to_owned(), r.array()?));
    }
    r.finish()?;
    Ok(out)
}

/// Compares the served field envelopes with the index, position by position.
fn check_against_index(index: &[(String, [u8; HASH_LEN])], fields: &[Envelope]) -> Result<()> {
    if fields.len() < index.len() {
        return Err(integrity("item field dropped"));
    }
    if fields.len() > index.len() {
        return Err(integrity("item field added"));
    }
    if index
        .iter()
        .zip(fields)
        .any(|((_, hash), env)| envelope_hash(env) != *hash)
    {
        return Err(integrity("item field replaced"));
    }
    Ok(())
}

fn integrity(reason: &'static str) -> CryptoError {
    CryptoError::Integrity { reason }
}

impl SealedItem {
    /// The binary form (version 1, `docs/protocol.md` §12.3):
    ///
    /// ```text
    /// 0x01 ‖ K:u32 ‖ item key envelope:K ‖ I:u32 ‖ index envelope:I ‖ n:u16 ‖ n × (E:u32 ‖ field envelope:E)
    /// ```
    ///
    /// Fails only if there are more than [`MAX_FIELDS`] fields.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.fields.len() > MAX_FIELDS {
            return Err(CryptoError::Malformed {
                what: WHAT_ITEM,
                reason: "more than 1024 fields",
            });
        }
        let size = 1
            + 4
            + self.item_key.as_bytes().len()
            + 4
            + self.index.as_bytes().len()
            + 2
            + self
                .fields
                .iter()
                .map(|e| 4 + e.as_bytes().len())
                .sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.push(SEALED_ITEM_VERSION);
        for env in [&self.item_key, &self.index] {
            write_envelope(&mut out, env)?;
        }
        out.extend_from_slice(&len_u16(self.fields.len(), WHAT_ITEM)?);
        for env in &self.fields {
            write_envelope(&mut out, env)?;
        }
        Ok(out)
    }

    /// Parses the binary form. Never panics; faults are `Truncated`, `UnknownVersion`,
    /// `UnknownAlgorithm` (an inner envelope) or `Malformed` (too many fields, trailing bytes).
    /// The encoding is canonical: a parsed item re-encodes to the same bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(WHAT_ITEM, bytes);
        let version = r.u8()?;
        if version != SEALED_ITEM_VERSION {
            return Err(CryptoError::UnknownVersion {
                what: WHAT_ITEM,
                version,
            });
        }
        let item_key = read_envelope(&mut r)?;
        let index = read_envelope(&mut r)?;
        let n = read_count(&mut r, WHAT_ITEM)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(read_envelope(&mut r)?);
        }
        r.finish()?;
        Ok(Self {
            item_key,
            index,
            fields,
        })
    }

    /// `SHA-256(to_bytes())`: the content hash a vault manifest records for this item.
    pub fn content_hash(&self) -> Result<[u8; 32]> {
        Ok(Sha256::digest(self.to_bytes()?).into())
    }
}

fn write_envelope(out: &mut Vec<u8>, env: &Envelope) -> Result<()> {
    out.extend_from_slice(&len_u32(env.as_bytes().len(), WHAT_ITEM)?);
    out.extend_from_slice(env.as_bytes());
    Ok(())
}

fn read_envelope(r: &mut Reader<'_>) -> Result<Envelope> {
    let len = usize::try_from(r.u32()?).map_err(|_| CryptoError::Length("envelope"))?;
    Envelope::from_bytes(r.take(len)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{open, seal};

    fn loc() -> ItemLocation {
        ItemLocation {
            workspace: [1; 16],
            vault: [2; 16],
            item: [3; 16],
            epoch: 4,
            revision: 5,
        }
    }

    const LOGIN: [(&str, &[u8]); 3] = [
        ("username", b"alice"),
        ("password", b"hunter2"),
        ("url", b"https://example.com"),
    ];

    fn opened(m: &BTreeMap<String, SecretVec>) -> Vec<(String, Vec<u8>)> {
        m.iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_vec()))
            .collect()
    }

    #[test]
    fn item_round_trip_and_encoding() {
        let vk = SymmetricKey::generate().unwrap();
        let sealed = seal_item(&vk, &loc(), &LOGIN).unwrap();
        let bytes = sealed.to_bytes().unwrap();
        assert_eq!(bytes[0], 1);
        let back = SealedItem::from_bytes(&bytes).unwrap();
        assert_eq!(back, sealed);
        assert_eq!(back.to_bytes().unwrap(), bytes);
        assert_eq!(
            back.content_hash().unwrap(),
            <[u8; 32]>::from(Sha256::digest(&bytes))
        );
        let got = opened(&open_item(&vk, &back, &loc()).unwrap());
        let mut want: Vec<_> = LOGIN
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect();
        want.sort();
        assert_eq!(got, want);
        // An empty item round-trips too.
        let empty = seal_item(&vk, &loc(), &[]).unwrap();
        assert!(open_item(&vk, &empty, &loc()).unwrap().is_empty());
    }

    /// Pins the construction of §12 from its documented parts. Do not modify if it fails.
    #[test]
    fn construction_matches_protocol_md() {
        let vk =
            SymmetricKey::from_secret(KeyId([9; 16]), SecretBytes::from_array([0x11; 32])).unwrap();
        let ik =
            SymmetricKey::from_secret(KeyId([8; 16]), SecretBytes::from_array([0x22; 32])).unwrap();
        let l = loc();
        let sealed = seal_item_with_key(&vk, &ik, &l, &[("pw", b"x")]).unwrap();
        // Item key: envelope under the vault key, context ItemKey, plaintext 01 ‖ id ‖ key.
        let ctx = Context::new(Purpose::ItemKey)
            .with_workspace([1; 16])
            .with_vault([2; 16])
            .with_item([3; 16])
            .with_epoch(4);
        let pt = open(&vk, &ctx, &sealed.item_key).unwrap();
        let mut want = vec![1u8];
        want.extend_from_slice(&[8; 16]);
        want.extend_from_slice(&[0x22; 32]);
        assert_eq!(pt.expose_secret(), want.as_slice());
        // Field: subkey ("coffer.item.field.v1", revision ‖ name), context ItemField + field.
        let mut info = 5u64.to_be_bytes().to_vec();
        info.extend_from_slice(b"pw");
        let fk = ik.derive_subkey("coffer.item.field.v1", &info).unwrap();
        let fctx = Context::new(Purpose::ItemField)
            .with_workspace([1; 16])
            .with_vault([2; 16])
            .with_item([3; 16])
            .with_field("pw")
            .unwrap()
            .with_epoch(4);
        let field_env = &sealed.fields[0];
        assert_eq!(open(&fk, &fctx, field_env).unwrap().expose_secret(), b"x");
        assert_eq!(field_env.key_id(), KeyId([8; 16]));
        // Index: subkey ("coffer.item.index.v1", revision), context ItemField without field.
        let xk = ik
            .derive_subkey("coffer.item.index.v1", &5u64.to_be_bytes())
            .unwrap();
        let xctx = Context::new(Purpose::ItemField)
            .with_workspace([1; 16])
            .with_vault([2; 16])
            .with_item([3; 16])
            .with_epoch(4);
        let mut want = vec![1u8, 0, 1, 0, 2, b'p', b'w'];
        want.extend_from_slice(&Sha256::digest(field_env.as_bytes()));
        assert_eq!(
            open(&xk, &xctx, &sealed.index).unwrap().expose_secret(),
            want.as_slice()
        );
        // Binary form.
        let bytes = sealed.to_bytes().unwrap();
        let k = sealed.item_key.as_bytes().len();
        let i = sealed.index.as_bytes().len();
        let mut want = vec![1u8];
        want.extend_from_slice(&u32::try_from(k).unwrap().to_be_bytes());
        want.extend_from_slice(sealed.item_key.as_bytes());
        want.extend_from_slice(&u32::try_from(i).unwrap().to_be_bytes());
        want.extend_from_slice(sealed.index.as_bytes());
        want.extend_from_slice(&[0, 1]);
        want.extend_from_slice(
            &u32::try_from(field_env.as_bytes().len())
                .unwrap()
                .to_be_bytes(),
        );
        want.extend_from_slice(field_env.as_bytes());
        assert_eq!(bytes, want);
        assert_eq!(k, 90 + 49);
    }

    /// The size formula of protocol.md §12.3.
    #[test]
    fn sealed_size_matches_protocol_md() {
        let vk = SymmetricKey::generate().unwrap();
        let fields: [(&str, &[u8]); 6] = [
            ("title", &[0; 16]),
            ("username", &[0; 23]),
            ("password", &[0; 32]),
            ("url", &[0; 41]),
            ("totp", &[0; 52]),
            ("notes", &[0; 24]),
        ];
        let sealed = seal_item(&vk, &loc(), &fields).unwrap();
        let names: usize = fields.iter().map(|(n, _)| n.len()).sum();
        let values: usize = fields.iter().map(|(_, v)| v.len()).sum();
        let n = fields.len();
        let want = 11 + 139 + (93 + 34 * n + names) + (94 * n + values);
        assert_eq!(sealed.to_bytes().unwrap().len(), want);
        assert_eq!(want, 1232);
    }

    /// LOGIN in index order: password, url, username.
    const PASSWORD: usize = 0;
    const URL: usize = 1;

    #[test]
    fn revision_is_bound() {
        let vk = SymmetricKey::generate().unwrap();
        let ik = generate_item_key().unwrap();
        let old = seal_item_with_key(&vk, &ik, &loc(), &LOGIN).unwrap();
        let newer = ItemLocation {
            revision: 6,
            ..loc()
        };
        // The old revision served as revision 6 does not open.
        assert_eq!(
            open_item(&vk, &old, &newer).unwrap_err(),
            CryptoError::OpenFailed
        );
        // An old field spliced into the new revision is caught.
        let mut new = seal_item_with_key(&vk, &ik, &newer, &LOGIN).unwrap();
        new.fields[PASSWORD] = old.fields[PASSWORD].clone();
        assert_eq!(
            open_item(&vk, &new, &newer).unwrap_err(),
            integrity("item field replaced")
        );
        assert_eq!(
            open_field(&ik, &newer, "password", &old.fields[PASSWORD]).unwrap_err(),
            CryptoError::OpenFailed
        );
        // The item key wrap is revision-independent.
        assert!(unwrap_item_key(&vk, &old.item_key, &newer).is_ok());
    }

    #[test]
    fn field_set_is_bound() {
        let vk = SymmetricKey::generate().unwrap();
        let l = loc();
        let sealed = seal_item(&vk, &l, &LOGIN).unwrap();
        let ik = unwrap_item_key(&vk, &sealed.item_key, &l).unwrap();
        assert_eq!(
            item_field_names(&ik, &sealed, &l).unwrap(),
            ["password", "url", "username"]
        );
        let mut dropped = sealed.clone();
        dropped.fields.pop();
        assert_eq!(
            open_item(&vk, &dropped, &l).unwrap_err(),
            integrity("item field dropped")
        );
        let mut dropped_first = sealed.clone();
        dropped_first.fields.remove(0);
        assert_eq!(
            open_item(&vk, &dropped_first, &l).unwrap_err(),
            integrity("item field dropped")
        );
        // An added field, even a valid envelope under the right subkey, is caught.
        let mut added = sealed.clone();
        added
            .fields
            .push(seal_field(&ik, &l, "totp", b"x").unwrap());
        assert_eq!(
            open_item(&vk, &added, &l).unwrap_err(),
            integrity("item field added")
        );
        // Two fields swapped (one moved to the other's name).
        let mut moved = sealed.clone();
        moved.fields.swap(PASSWORD, URL);
        assert_eq!(
            open_item(&vk, &moved, &l).unwrap_err(),
            integrity("item field replaced")
        );
        // Same item and revision sealed twice (a fork): fields are not interchangeable.
        let twin = seal_item_with_key(&vk, &ik, &l, &LOGIN).unwrap();
        let mut mixed = sealed.clone();
        mixed.fields[PASSWORD] = twin.fields[PASSWORD].clone();
        assert_eq!(
            open_item(&vk, &mixed, &l).unwrap_err(),
            integrity("item field replaced")
        );
        // No field name appears in the stored bytes.
        let bytes = sealed.to_bytes().unwrap();
        for (name, _) in LOGIN {
            assert!(!bytes.windows(name.len()).any(|w| w == name.as_bytes()));
        }
    }

    #[test]
    fn contexts_are_distinct() {
        let l = loc();
        let encs = [
            l.item_key_context().encode(),
            l.index_context().encode(),
            l.field_context("a").unwrap().encode(),
            l.attachment_key_context("a").unwrap().encode(),
            attachment_context(&l, "a").unwrap().encode(),
        ];
        for (i, a) in encs.iter().enumerate() {
            for b in &encs[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn bad_field_names_are_refused() {
        let vk = SymmetricKey::generate().unwrap();
        let e = |r| CryptoError::Malformed {
            what: WHAT_FIELDS,
            reason: r,
        };
        assert_eq!(
            seal_item(&vk, &loc(), &[("", b"")]).unwrap_err(),
            e("empty field name")
        );
        let long = "x".repeat(1025);
        assert_eq!(
            seal_item(&vk, &loc(), &[(long.as_str(), b"")]).unwrap_err(),
            e("field name longer than 1024 bytes")
        );
        assert_eq!(
            seal_item(&vk, &loc(), &[("a", b"1"), ("a", b"2")]).unwrap_err(),
            e("duplicate field name")
        );
        let names: Vec<String> = (0..1025).map(|i| format!("f{i}")).collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert_eq!(
            seal_item(&vk, &loc(), &many).unwrap_err(),
            e("more than 1024 fields")
        );
    }

    #[test]
    fn decode_errors_are_typed() {
        let vk = SymmetricKey::generate().unwrap();
        let bytes = seal_item(&vk, &loc(), &LOGIN).unwrap().to_bytes().unwrap();
        assert_eq!(
            SealedItem::from_bytes(&[]).unwrap_err(),
            CryptoError::Truncated {
                what: WHAT_ITEM,
                at: 0,
                needed: 1
            }
        );
        assert!(matches!(
            SealedItem::from_bytes(&[2]),
            Err(CryptoError::UnknownVersion { version: 2, .. })
        ));
        for cut in 0..bytes.len() {
            assert!(matches!(
                SealedItem::from_bytes(&bytes[..cut]),
                Err(CryptoError::Truncated { .. })
                    | Err(CryptoError::Malformed { .. })
                    | Err(CryptoError::UnknownVersion { .. })
            ));
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            SealedItem::from_bytes(&long).unwrap_err(),
            CryptoError::Malformed {
                what: WHAT_ITEM,
                reason: "trailing bytes"
            }
        );
        // More than 1024 fields declared.
        let env = seal(&vk, &loc().index_context(), b"").unwrap();
        let mut b = vec![1u8];
        let el = u32::try_from(env.as_bytes().len()).unwrap().to_be_bytes();
        for _ in 0..2 {
            b.extend_from_slice(&el);
            b.extend_from_slice(env.as_bytes());
        }
        b.extend_from_slice(&1025u16.to_be_bytes());
        assert_eq!(
            SealedItem::from_bytes(&b).unwrap_err(),
            CryptoError::Malformed {
                what: WHAT_ITEM,
                reason: "more than 1024 fields"
            }
        );
        // Huge declared lengths are a truncation, not an allocation.
        let mut huge = vec![1u8, 0xff, 0xff, 0xff, 0xff];
        huge.extend_from_slice(&[0; 8]);
        assert!(matches!(
            SealedItem::from_bytes(&huge),
            Err(CryptoError::Truncated { .. })
        ));
    }

    #[test]
    fn attachments() {
        let ik = generate_item_key().unwrap();
        let fk = SymmetricKey::generate().unwrap();
        let l = loc();
        let w = wrap_file_key(&ik, &l, "att-1", &fk).unwrap();
        let back = unwrap_file_key(&ik, &l, "att-1", &w).unwrap();
        assert_eq!(back.expose_secret(), fk.expose_secret());
        assert_eq!(back.id(), fk.id());
        assert_eq!(
            unwrap_file_key(&ik, &l, "att-2", &w).unwrap_err(),
            CryptoError::OpenFailed
        );
        let other_epoch = ItemLocation { epoch: 5, ..l };
        assert_eq!(
            unwrap_file_key(&ik, &other_epoch, "att-1", &w).unwrap_err(),
            CryptoError::OpenFailed
        );
        // A file-key wrap is not an item-key wrap, nor a field.
        assert!(unwrap_item_key(&ik, &w, &l).is_err());
        assert!(open_field(&ik, &l, "att-1", &w).is_err());
        // The stream round-trips under the attachment context and not under another.
        let ctx = attachment_context(&l, "att-1").unwrap();
        let mut ct = Vec::new();
        crate::stream::encrypt_stream(&fk, &ctx, &b"file"[..], &mut ct).unwrap();
        let mut pt = Vec::new();
        crate::stream::decrypt_stream(&back, &ctx, ct.as_slice(), &mut pt).unwrap();
        assert_eq!(pt, b"file");
        let other = attachment_context(&l, "att-2").unwrap();
        assert!(
            crate::stream::decrypt_stream(&back, &other, ct.as_slice(), &mut Vec::new()).is_err()
        );
    }

    #[test]
    fn debug_never_shows_plaintext() {
        let vk = SymmetricKey::generate().unwrap();
        let sealed = seal_item(&vk, &loc(), &LOGIN).unwrap();
        let opened = open_item(&vk, &sealed, &loc()).unwrap();
        let s = format!("{sealed:?}{opened:?}");
        assert!(!s.contains("hunter2"));
    }
}
