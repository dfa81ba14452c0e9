//! Property tests of items and vault manifests (DESIGN §2, §4; THREATS "Field/item swap",
//! "Unauthenticated metadata", "Vault structure: drop, duplicate, replay, rollback"):
//!
//! - any item (any fields, any location) round-trips through seal → bytes → parse → open;
//! - a field envelope opens only at its own field, item, vault, workspace, epoch and revision;
//!   an item's payload or item key moved to another item does not open; a field dropped, added
//!   or replaced is caught;
//! - every single-bit flip of a sealed item or a manifest is a typed decode error or a refusal;
//! - an evil server that drops, duplicates, replays, injects, swaps or rolls back items or
//!   manifests is flagged by `check_items` / `verify_manifest`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use coffer_crypto::item::{ItemLocation, SealedItem, open_field, open_item, seal_item};
use coffer_crypto::manifest::{
    ItemProblem, Manifest, ManifestBody, ManifestEntry, check_items, first_item_problem,
    verify_manifest,
};
use coffer_crypto::{CryptoError, KeyPair, SymmetricKey};
use proptest::prelude::*;

fn location() -> impl Strategy<Value = ItemLocation> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(|(workspace, vault, item, epoch, revision)| ItemLocation {
            workspace,
            vault,
            item,
            epoch,
            revision,
        })
}

fn fields() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    proptest::collection::btree_map(
        "\\PC{1,24}",
        proptest::collection::vec(any::<u8>(), 0..64),
        1..7,
    )
}

fn as_slices(f: &BTreeMap<String, Vec<u8>>) -> Vec<(&str, &[u8])> {
    f.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect()
}

fn plain(m: &BTreeMap<String, coffer_crypto::SecretVec>) -> BTreeMap<String, Vec<u8>> {
    m.iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_vec()))
        .collect()
}

/// `loc` with component `which` (0..5: workspace, vault, item, epoch, revision) changed.
fn moved(loc: &ItemLocation, which: u8) -> ItemLocation {
    let mut l = *loc;
    match which % 5 {
        0 => l.workspace[0] ^= 1,
        1 => l.vault[5] ^= 0x80,
        2 => l.item[15] ^= 2,
        3 => l.epoch = l.epoch.wrapping_add(1),
        _ => l.revision ^= 1 << 40,
    }
    l
}

fn integrity(reason: &'static str) -> CryptoError {
    CryptoError::Integrity { reason }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any fields at any location round-trip, and the binary form is canonical.
    #[test]
    fn item_round_trips(loc in location(), f in fields()) {
        let vk = SymmetricKey::generate().unwrap();
        let sealed = seal_item(&vk, &loc, &as_slices(&f)).unwrap();
        let bytes = sealed.to_bytes().unwrap();
        let back = SealedItem::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.to_bytes().unwrap(), bytes.clone());
        prop_assert_eq!(plain(&open_item(&vk, &back, &loc).unwrap()), f);
        let entry = ManifestEntry::for_item(&loc, &back).unwrap();
        prop_assert_eq!(
            entry,
            ManifestEntry::from_sealed_bytes(loc.item, loc.revision, loc.epoch, &bytes)
        );
    }

    /// A field envelope opens only as itself: another field name, item, vault, workspace, epoch
    /// or revision is `OpenFailed`; the whole item moved is `OpenFailed` too.
    #[test]
    fn field_and_item_are_bound_to_their_place(
        loc in location(),
        f in fields(),
        which in 0u8..5,
        pick in any::<prop::sample::Index>(),
    ) {
        let vk = SymmetricKey::generate().unwrap();
        let sealed = seal_item(&vk, &loc, &as_slices(&f)).unwrap();
        let ik = coffer_crypto::unwrap_item_key(&vk, &sealed.item_key, &loc).unwrap();
        // The envelopes are in the index's order: field names ascending, as in `f`.
        let names: Vec<&String> = f.keys().collect();
        let i = pick.index(names.len());
        let name = names[i];
        let env = &sealed.fields[i];
        prop_assert!(open_field(&ik, &loc, name, env).is_ok());
        let other_name = format!("{name}x");
        prop_assert_eq!(open_field(&ik, &loc, &other_name, env).unwrap_err(), CryptoError::OpenFailed);
        let there = moved(&loc, which);
        prop_assert_eq!(open_field(&ik, &there, name, env).unwrap_err(), CryptoError::OpenFailed);
        prop_assert_eq!(open_item(&vk, &sealed, &there).unwrap_err(), CryptoError::OpenFailed);
        // Moved to another field slot of the same item: caught by the index before opening.
        if names.len() > 1 {
            let j = (i + 1) % names.len();
            let mut swapped = sealed.clone();
            swapped.fields.swap(i, j);
            prop_assert_eq!(open_item(&vk, &swapped, &loc).unwrap_err(), integrity("item field replaced"));
            let mut copied = sealed.clone();
            copied.fields[j] = env.clone();
            prop_assert_eq!(open_item(&vk, &copied, &loc).unwrap_err(), integrity("item field replaced"));
            prop_assert_eq!(open_field(&ik, &loc, names[j], env).unwrap_err(), CryptoError::OpenFailed);
        }
    }

    /// Two items of one vault: their payloads, item keys or single fields swapped do not open.
    #[test]
    fn items_do_not_mix(loc in location(), fa in fields(), fb in fields(), other_item in any::<[u8; 16]>()) {
        prop_assume!(other_item != loc.item);
        let vk = SymmetricKey::generate().unwrap();
        let loc_b = ItemLocation { item: other_item, ..loc };
        let a = seal_item(&vk, &loc, &as_slices(&fa)).unwrap();
        let b = seal_item(&vk, &loc_b, &as_slices(&fb)).unwrap();
        // Whole payloads swapped.
        prop_assert_eq!(open_item(&vk, &b, &loc).unwrap_err(), CryptoError::OpenFailed);
        prop_assert_eq!(open_item(&vk, &a, &loc_b).unwrap_err(), CryptoError::OpenFailed);
        // Item key envelopes swapped.
        let mut a2 = a.clone();
        a2.item_key = b.item_key.clone();
        prop_assert_eq!(open_item(&vk, &a2, &loc).unwrap_err(), CryptoError::OpenFailed);
        // Index swapped.
        let mut a3 = a.clone();
        a3.index = b.index.clone();
        prop_assert_eq!(open_item(&vk, &a3, &loc).unwrap_err(), CryptoError::OpenFailed);
        // One field of B put in A: caught by A's index.
        let mut a4 = a.clone();
        a4.fields[0] = b.fields[0].clone();
        prop_assert_eq!(open_item(&vk, &a4, &loc).unwrap_err(), integrity("item field replaced"));
    }

    /// A field dropped from, or added to, an item is caught.
    #[test]
    fn field_drop_or_add_is_caught(loc in location(), f in fields(), pick in any::<prop::sample::Index>()) {
        let vk = SymmetricKey::generate().unwrap();
        let sealed = seal_item(&vk, &loc, &as_slices(&f)).unwrap();
        let i = pick.index(sealed.fields.len());
        let mut dropped = sealed.clone();
        dropped.fields.remove(i);
        prop_assert_eq!(open_item(&vk, &dropped, &loc).unwrap_err(), integrity("item field dropped"));
        // Also through the wire form.
        let back = SealedItem::from_bytes(&dropped.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(open_item(&vk, &back, &loc).unwrap_err(), integrity("item field dropped"));
        let mut added = sealed.clone();
        added.fields.insert(i, sealed.fields[i].clone());
        prop_assert_eq!(open_item(&vk, &added, &loc).unwrap_err(), integrity("item field added"));
    }

    /// Random bit flips of a manifest: a typed decode error, or a refusal by `verify_manifest`.
    #[test]
    fn manifest_bit_flips_are_refused(n in 0usize..6, seed in any::<u8>(), bit in any::<prop::sample::Index>()) {
        let (m, kp) = manifest_of(n, seed);
        let bytes = m.to_bytes().unwrap();
        let i = bit.index(bytes.len() * 8);
        let mut b = bytes.clone();
        b[i / 8] ^= 1 << (i % 8);
        assert_flip_refused(&b, &kp, i / 8);
    }

    /// An evil server's item-level tricks are each flagged, and a replayed payload never opens
    /// as the current revision.
    #[test]
    fn evil_server_item_tricks_are_flagged(n in 2usize..6, victim in any::<prop::sample::Index>()) {
        let vault = Vault::new(n);
        let v = victim.index(n);
        let honest = vault.served();
        check_items(&vault.manifest, &honest).unwrap();
        let problem = |s: &[ManifestEntry]| first_item_problem(&vault.manifest, s).map(|i| (i.item, i.problem));
        let id = vault.locs[v].item;

        let mut dropped = honest.clone();
        dropped.remove(v);
        prop_assert_eq!(problem(&dropped), Some((id, ItemProblem::Dropped)));
        prop_assert_eq!(check_items(&vault.manifest, &dropped).unwrap_err(), integrity("item dropped"));

        let mut dup = honest.clone();
        dup.push(honest[v]);
        prop_assert_eq!(problem(&dup), Some((id, ItemProblem::Duplicated)));

        // Replay: the previous revision, announced as such or as the current one.
        let old = ManifestEntry::from_sealed_bytes(id, vault.locs[v].revision - 1, vault.locs[v].epoch, &vault.old[v]);
        let mut replay = honest.clone();
        replay[v] = old;
        prop_assert_eq!(problem(&replay), Some((id, ItemProblem::OldRevision)));
        replay[v].revision += 1;
        prop_assert_eq!(problem(&replay), Some((id, ItemProblem::PayloadSwapped)));
        let old_item = SealedItem::from_bytes(&vault.old[v]).unwrap();
        prop_assert_eq!(open_item(&vault.key, &old_item, &vault.locs[v]).unwrap_err(), CryptoError::OpenFailed);

        // Payload of another item served under this id.
        let w = (v + 1) % n;
        let mut swap = honest.clone();
        swap[v] = ManifestEntry::from_sealed_bytes(id, vault.locs[v].revision, vault.locs[v].epoch, &vault.current[w]);
        prop_assert_eq!(problem(&swap), Some((id, ItemProblem::PayloadSwapped)));
        let other = SealedItem::from_bytes(&vault.current[w]).unwrap();
        prop_assert_eq!(open_item(&vault.key, &other, &vault.locs[v]).unwrap_err(), CryptoError::OpenFailed);

        // An item the manifest does not list (e.g. a deleted one) injected.
        let mut injected = honest.clone();
        let mut ghost = honest[v];
        ghost.item[0] ^= 0xff;
        ghost.item[15] ^= 0x5a;
        injected.push(ghost);
        prop_assert_eq!(problem(&injected).map(|p| p.1), Some(ItemProblem::Added));

        let mut epoch = honest.clone();
        epoch[v].epoch += 1;
        prop_assert_eq!(problem(&epoch), Some((id, ItemProblem::WrongEpoch)));
    }
}

/// A manifest with `n` entries, signed by a fixed key pair.
fn manifest_of(n: usize, seed: u8) -> (Manifest, KeyPair) {
    let kp = KeyPair::generate().unwrap();
    let entries = (0..n)
        .map(|i| {
            let i = u8::try_from(i).unwrap();
            ManifestEntry::from_sealed_bytes([i ^ seed; 16], u64::from(i), 3, &[i, seed])
        })
        .collect();
    let m = ManifestBody::genesis([0xa1; 16], [0xb2; 16], 3, entries)
        .sign(&kp)
        .unwrap();
    (m, kp)
}

/// A flipped manifest (byte `at` altered) must fail to parse with a typed error, or fail
/// verification: `UntrustedSigner` when the signer bytes were hit, `BadSignature` otherwise.
fn assert_flip_refused(bytes: &[u8], kp: &KeyPair, at: usize) {
    let trusted = [*kp.public().signing()];
    match Manifest::from_bytes(bytes) {
        Err(
            CryptoError::Malformed { .. }
            | CryptoError::Truncated { .. }
            | CryptoError::UnknownVersion { .. },
        ) => {}
        Err(e) => panic!("unexpected decode error {e:?} at byte {at}"),
        Ok(m) => {
            let err = verify_manifest(&m, &[0xa1; 16], &[0xb2; 16], &trusted, None).unwrap_err();
            let expected = if (77..109).contains(&at) {
                CryptoError::UntrustedSigner {
                    what: "vault manifest",
                }
            } else {
                CryptoError::BadSignature {
                    what: "vault manifest",
                }
            };
            assert_eq!(err, expected, "byte {at}");
        }
    }
}

/// Every single-bit flip of a 4-item manifest is refused.
#[test]
fn every_manifest_bit_flip_is_refused() {
    let (m, kp) = manifest_of(4, 0x33);
    let bytes = m.to_bytes().unwrap();
    verify_manifest(
        &m,
        &[0xa1; 16],
        &[0xb2; 16],
        &[*kp.public().signing()],
        None,
    )
    .unwrap();
    for i in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[i / 8] ^= 1 << (i % 8);
        assert_flip_refused(&b, &kp, i / 8);
    }
}

/// Every single-bit flip of a sealed item is a typed decode error, or the item does not open
/// (`OpenFailed`, or `Integrity` when a field envelope no longer matches the index).
#[test]
fn every_sealed_item_bit_flip_is_refused() {
    let vk = SymmetricKey::generate().unwrap();
    let loc = ItemLocation {
        workspace: [1; 16],
        vault: [2; 16],
        item: [3; 16],
        epoch: 1,
        revision: 7,
    };
    let sealed = seal_item(&vk, &loc, &[("user", b"alice"), ("pw", b"hunter2")]).unwrap();
    let bytes = sealed.to_bytes().unwrap();
    for i in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[i / 8] ^= 1 << (i % 8);
        match SealedItem::from_bytes(&b) {
            Err(
                CryptoError::Malformed { .. }
                | CryptoError::Truncated { .. }
                | CryptoError::UnknownVersion { .. }
                | CryptoError::UnknownAlgorithm { .. },
            ) => {}
            Err(e) => panic!("unexpected decode error {e:?} at bit {i}"),
            Ok(item) => match open_item(&vk, &item, &loc) {
                Err(CryptoError::OpenFailed | CryptoError::Integrity { .. }) => {}
                other => panic!("bit {i}: {other:?}"),
            },
        }
    }
}

/// A small vault: `n` items, each sealed at revision 1 then 2; a manifest over revision 2.
struct Vault {
    key: SymmetricKey,
    locs: Vec<ItemLocation>,
    old: Vec<Vec<u8>>,
    current: Vec<Vec<u8>>,
    manifest: Manifest,
}

impl Vault {
    fn new(n: usize) -> Self {
        let key = SymmetricKey::generate().unwrap();
        let kp = KeyPair::generate().unwrap();
        let mut locs = Vec::new();
        let mut old = Vec::new();
        let mut current = Vec::new();
        for i in 0..n {
            let i = u8::try_from(i).unwrap();
            let loc = ItemLocation {
                workspace: [1; 16],
                vault: [2; 16],
                item: [i.wrapping_mul(37).wrapping_add(5); 16],
                epoch: 1,
                revision: 2,
            };
            let prev = ItemLocation { revision: 1, ..loc };
            let fields: [(&str, &[u8]); 2] = [("user", &[i]), ("pw", b"secret")];
            old.push(seal_item(&key, &prev, &fields).unwrap().to_bytes().unwrap());
            current.push(seal_item(&key, &loc, &fields).unwrap().to_bytes().unwrap());
            locs.push(loc);
        }
        let entries = locs
            .iter()
            .zip(&current)
            .map(|(l, b)| ManifestEntry::from_sealed_bytes(l.item, l.revision, l.epoch, b))
            .collect();
        let manifest = ManifestBody::genesis([1; 16], [2; 16], 1, entries)
            .sign(&kp)
            .unwrap();
        Self {
            key,
            locs,
            old,
            current,
            manifest,
        }
    }

    /// What an honest server serves, as the client sees it (hashes computed by the client).
    fn served(&self) -> Vec<ManifestEntry> {
        self.locs
            .iter()
            .zip(&self.current)
            .map(|(l, b)| ManifestEntry::from_sealed_bytes(l.item, l.revision, l.epoch, b))
            .collect()
    }
}

/// A rolled-back or forked vault is refused against the last head the client kept, and the
/// honest successor is accepted.
#[test]
fn manifest_rollback_and_fork_are_refused() {
    let kp = KeyPair::generate().unwrap();
    let me = [*kp.public().signing()];
    let (ws, vault) = ([1; 16], [2; 16]);
    let e = |id: u8, rev: u64| ManifestEntry::from_sealed_bytes([id; 16], rev, 0, &[id]);
    let m0 = ManifestBody::genesis(ws, vault, 0, vec![e(1, 1)])
        .sign(&kp)
        .unwrap();
    let m1 = ManifestBody::successor(&m0, 0, vec![e(1, 2), e(2, 1)])
        .unwrap()
        .sign(&kp)
        .unwrap();
    let h0 = verify_manifest(&m0, &ws, &vault, &me, None).unwrap();
    let h1 = verify_manifest(&m1, &ws, &vault, &me, Some(&h0)).unwrap();
    assert_eq!(
        verify_manifest(&m0, &ws, &vault, &me, Some(&h1)).unwrap_err(),
        integrity("vault rolled back (counter below the last seen)")
    );
    // A fork: a different counter-1 manifest (e.g. item 2 hidden) after the client saw m1.
    let fork = ManifestBody::successor(&m0, 0, vec![e(1, 2)])
        .unwrap()
        .sign(&kp)
        .unwrap();
    assert_eq!(
        verify_manifest(&fork, &ws, &vault, &me, Some(&h1)).unwrap_err(),
        integrity("vault forked (same counter, different manifest)")
    );
    // A manifest of another vault is refused even with a higher counter.
    let other = ManifestBody::genesis(ws, [3; 16], 0, vec![])
        .sign(&kp)
        .unwrap();
    assert_eq!(
        verify_manifest(&other, &ws, &vault, &me, Some(&h1)).unwrap_err(),
        CryptoError::WrongContext {
            what: "vault manifest"
        }
    );
    // An item of the old manifest served against the new one: replayed.
    assert_eq!(
        check_items(&m1, &[e(1, 1), e(2, 1)]).unwrap_err(),
        integrity("item replayed (older revision than the manifest)")
    );
}
