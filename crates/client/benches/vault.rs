//! Unlock-and-decrypt cost of a 10,000-item vault.
//!
//! Builds 10,000 sealed login items (`coffer_crypto::item`, two fields `o` and `d` of realistic
//! sizes, as `docs/protocol.md` §15.1 lays them out), then times:
//!
//! - (a) `items/open_10k`: parse every sealed item from its bytes and open it (`open_item`: item
//!   key unwrap, index, both fields, with their HKDF subkeys and key-commitment checks);
//! - (b) `items/raw_aead_10k`: the raw primitive alone: 10,000 × 4 XChaCha20-Poly1305 opens
//!   of the same plaintext sizes and a context-sized associated data, one key for all;
//! - the local cache load (decrypt, parse, open on use) is crate-private; the `sync_load`
//!   harness (`crates/cli/examples/sync_load.rs`) measures it end to end, as the SDK's full sync
//!   and as a warm `coffer item get` of the real binary.
//!
//! Run: `cargo bench -p coffer-client --bench vault` (a quick side-by-side table is printed
//! first, then criterion's figures).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::array::Array;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use coffer_crypto::item::{ItemLocation, SealedItem, open_item, seal_item};
use coffer_crypto::key::SymmetricKey;
use criterion::{Criterion, criterion_group, criterion_main};

const N: usize = 10_000;
/// Associated data length of an item field envelope (header + encoded context), about.
const AAD_LEN: usize = 128;

struct Vault {
    key: SymmetricKey,
    items: Vec<(ItemLocation, Vec<u8>)>,
}

fn location(i: usize) -> ItemLocation {
    let mut item = [0u8; 16];
    item[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    ItemLocation {
        workspace: [0; 16],
        vault: [7; 16],
        item,
        epoch: 1,
        revision: 1,
    }
}

fn overview(i: usize) -> String {
    format!(
        r#"{{"type":"login","name":"Service {i:05}","username":"user{i}@example.com","urls":["https://login.service{i}.example/"],"tags":["work"],"created_at":1760000000,"updated_at":1760000000}}"#
    )
}

fn details(i: usize) -> String {
    format!(
        r#"{{"password":"Xq7#pL9!vR2@mN5$wT8&kZ3^bY6*{i:06}","totp":null,"backup_codes":[],"notes":"Account number {i:08}; recovery by the security team.","fields":[{{"name":"pin","value":"{:04}","hidden":true}}],"attachments":[]}}"#,
        i % 10_000
    )
}

fn build() -> Vault {
    let key = SymmetricKey::generate().unwrap();
    let items = (0..N)
        .map(|i| {
            let loc = location(i);
            let o = overview(i);
            let d = details(i);
            let sealed = seal_item(&key, &loc, &[("o", o.as_bytes()), ("d", d.as_bytes())])
                .unwrap()
                .to_bytes()
                .unwrap();
            (loc, sealed)
        })
        .collect();
    Vault { key, items }
}

fn open_all(v: &Vault) -> usize {
    let mut total = 0;
    for (loc, bytes) in &v.items {
        let sealed = SealedItem::from_bytes(bytes).unwrap();
        let fields = open_item(&v.key, &sealed, loc).unwrap();
        total += fields.len();
    }
    total
}

/// The same number and sizes of AEAD opens as [`open_all`], without HKDF, commitment,
/// parsing or the index check.
struct Raw {
    cipher: XChaCha20Poly1305,
    nonce: [u8; 24],
    aad: Vec<u8>,
    /// (ciphertext, tag) per open.
    boxes: Vec<(Vec<u8>, [u8; 16])>,
}

fn build_raw(v: &Vault) -> Raw {
    let cipher = XChaCha20Poly1305::new(&Array::from([9u8; 32]));
    let nonce = [3u8; 24];
    let aad = vec![5u8; AAD_LEN];
    let mut boxes = Vec::with_capacity(N * 4);
    for (_, bytes) in &v.items {
        let sealed = SealedItem::from_bytes(bytes).unwrap();
        let envs = [&sealed.item_key, &sealed.index]
            .into_iter()
            .chain(sealed.fields.iter());
        for env in envs {
            let mut buf = vec![0u8; env.plaintext_len()];
            let tag = cipher
                .encrypt_inout_detached(&Array::from(nonce), &aad, buf.as_mut_slice().into())
                .unwrap();
            boxes.push((buf, tag.into()));
        }
    }
    Raw {
        cipher,
        nonce,
        aad,
        boxes,
    }
}

fn raw_all(r: &Raw) -> usize {
    let mut ok = 0;
    let mut out = Vec::new();
    for (ct, tag) in &r.boxes {
        out.clear();
        out.extend_from_slice(ct);
        r.cipher
            .decrypt_inout_detached(
                &Array::from(r.nonce),
                &r.aad,
                out.as_mut_slice().into(),
                &Array::from(*tag),
            )
            .unwrap();
        ok += 1;
    }
    ok
}

fn best_of(runs: usize, mut f: impl FnMut() -> usize) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let vault = build();
    let build_time = t.elapsed();
    let raw = build_raw(&vault);
    let bytes: usize = vault.items.iter().map(|(_, b)| b.len()).sum();

    let a = best_of(5, || open_all(&vault));
    let b = best_of(5, || raw_all(&raw));
    eprintln!();
    eprintln!(
        "10,000 login items, {bytes} sealed bytes ({} per item)",
        bytes / N
    );
    eprintln!("{:<44} {:>10}", "what", "best of 5");
    eprintln!(
        "{:<44} {:>8.1} ms",
        "seal 10k items (setup, once)",
        ms(build_time)
    );
    eprintln!("{:<44} {:>8.1} ms", "(a) parse + open_item × 10k", ms(a));
    eprintln!(
        "{:<44} {:>8.1} ms",
        format!("(b) raw XChaCha20-Poly1305 open × {}", raw.boxes.len()),
        ms(b)
    );
    eprintln!(
        "{:<44} {:>8.2} ×",
        "(a)/(b): cost of the item format",
        a.as_secs_f64() / b.as_secs_f64()
    );
    eprintln!("cache load and `coffer item get`: see crates/cli/examples/sync_load.rs");
    eprintln!();

    let mut g = c.benchmark_group("items");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("open_10k", |bch| bch.iter(|| open_all(&vault)));
    g.bench_function("raw_aead_10k", |bch| bch.iter(|| raw_all(&raw)));
    g.finish();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

criterion_group!(benches, bench);
criterion_main!(benches);
