//! Item seal+open for a typical login item (6 fields, ~200 bytes in all) beside the raw envelope
//! cost of the same fields (6 envelopes + the item-key wrap, one key, no subkeys, no index), and
//! vault-manifest sign+verify (and parse) for 10,000 items.
//! Run: `cargo bench -p coffer-crypto --bench item -- --sample-count 30`.

// Test and benchmark code: a failed unwrap is a failed run (the rule bars them in library code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffer_crypto::envelope::{open, seal};
use coffer_crypto::item::{ItemLocation, SealedItem, open_item, seal_item};
use coffer_crypto::manifest::{Manifest, ManifestBody, ManifestEntry, verify_manifest};
use coffer_crypto::{Context, KeyPair, Purpose, SymmetricKey};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

/// 6 fields, 188 bytes of values.
const LOGIN: [(&str, &[u8]); 6] = [
    ("title", b"Example Corp VPN"),
    ("username", b"alice.smith@example.com"),
    ("password", b"correct-horse-battery-staple-42!"),
    ("url", b"https://vpn.example.com/login?realm=staff"),
    (
        "totp",
        b"otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP",
    ),
    ("notes", b"rotate quarterly; ask IT"),
];

fn loc() -> ItemLocation {
    ItemLocation {
        workspace: [1; 16],
        vault: [2; 16],
        item: [3; 16],
        epoch: 1,
        revision: 9,
    }
}

/// `seal_item` + `open_item` (fresh item key, 6 field subkeys, index, 8 envelopes).
#[divan::bench]
fn item_seal_open(bencher: Bencher) {
    let vk = SymmetricKey::generate().unwrap();
    let l = loc();
    bencher.bench_local(|| {
        let sealed = seal_item(&vk, &l, black_box(&LOGIN)).unwrap();
        open_item(&vk, black_box(&sealed), &l).unwrap()
    });
}

/// `open_item` alone (the read path: unwrap, index, 6 fields).
#[divan::bench]
fn item_open(bencher: Bencher) {
    let vk = SymmetricKey::generate().unwrap();
    let l = loc();
    let sealed = seal_item(&vk, &l, &LOGIN).unwrap();
    bencher.bench_local(|| open_item(&vk, black_box(&sealed), &l).unwrap());
}

/// `derive_subkey` alone: one per field on each side, the bulk of the gap to raw envelopes.
#[divan::bench]
fn derive_subkey(bencher: Bencher) {
    let k = SymmetricKey::generate().unwrap();
    bencher.bench_local(|| {
        k.derive_subkey(
            "coffer.item.field.v1",
            black_box(b"\0\0\0\0\0\0\0\x09password"),
        )
        .unwrap()
    });
}

/// `seal_item` + `to_bytes` + `from_bytes` + `open_item`: what a client does per item.
#[divan::bench]
fn item_seal_encode_decode_open(bencher: Bencher) {
    let vk = SymmetricKey::generate().unwrap();
    let l = loc();
    bencher.bench_local(|| {
        let bytes = seal_item(&vk, &l, black_box(&LOGIN))
            .unwrap()
            .to_bytes()
            .unwrap();
        let sealed = SealedItem::from_bytes(black_box(&bytes)).unwrap();
        open_item(&vk, &sealed, &l).unwrap()
    });
}

/// The same values as 6 raw envelopes under one key, plus one 49-byte key wrap: the floor.
#[divan::bench]
fn raw_envelopes(bencher: Bencher) {
    let key = SymmetricKey::generate().unwrap();
    let ctxs: Vec<Context> = LOGIN
        .iter()
        .map(|(n, _)| {
            Context::new(Purpose::ItemField)
                .with_workspace([1; 16])
                .with_vault([2; 16])
                .with_item([3; 16])
                .with_field(*n)
                .unwrap()
                .with_epoch(1)
        })
        .collect();
    let wrap_ctx = Context::new(Purpose::ItemKey).with_item([3; 16]);
    bencher.bench_local(|| {
        let w = seal(&key, &wrap_ctx, &[0u8; 49]).unwrap();
        let mut out = vec![open(&key, &wrap_ctx, &w).unwrap()];
        for ((_, v), c) in LOGIN.iter().zip(&ctxs) {
            let e = seal(&key, c, black_box(v)).unwrap();
            out.push(open(&key, c, &e).unwrap());
        }
        out
    });
}

fn entries(n: u32) -> Vec<ManifestEntry> {
    (0..n)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            id[4..8].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            ManifestEntry::from_sealed_bytes(id, u64::from(i % 7), 1, &id)
        })
        .collect()
}

/// Sign + verify a 10,000-item manifest (sort, encode, root hash, Ed25519).
#[divan::bench]
fn manifest_10k_sign_verify(bencher: Bencher) {
    let kp = KeyPair::generate().unwrap();
    let trusted = [*kp.public().signing()];
    let e = entries(10_000);
    bencher
        .with_inputs(|| ManifestBody::genesis([1; 16], [2; 16], 1, e.clone()))
        .bench_local_values(|body| {
            let m = body.sign(&kp).unwrap();
            verify_manifest(&m, &[1; 16], &[2; 16], &trusted, None).unwrap()
        });
}

/// What a reader does: parse (root hash included) + verify a 10,000-item manifest.
#[divan::bench]
fn manifest_10k_parse_verify(bencher: Bencher) {
    let kp = KeyPair::generate().unwrap();
    let trusted = [*kp.public().signing()];
    let bytes = ManifestBody::genesis([1; 16], [2; 16], 1, entries(10_000))
        .sign(&kp)
        .unwrap()
        .to_bytes()
        .unwrap();
    bencher.bench_local(|| {
        let m = Manifest::from_bytes(black_box(&bytes)).unwrap();
        verify_manifest(&m, &[1; 16], &[2; 16], &trusted, None).unwrap()
    });
}
