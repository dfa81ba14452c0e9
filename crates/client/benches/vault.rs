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
//! and, for issue 5 (sharing, replication, rotation), the crypto side of:
//!
//! - (c) `grants/seal_200`: `seal_grant` of one vault key to 200 recipients (50 identities +
//!   150 devices: one 50-member share), beside (d) `grants/raw_sign_200`: 200 raw Ed25519
//!   signatures (`KeyPair::sign`) of a grant-sized message, the signing half of each grant (the
//!   X25519 HPKE half is not reachable from this crate's dependencies);
//! - (e) `rotate/reseal_10k`: the per-item work of a rotation (`sharing.rs::reseal_all`): parse,
//!   `unwrap_item_key` + `open_item` with the old vault key, then `seal_item_with_key` with a
//!   fresh item key under a new vault key at revision + 1, epoch 2, and serialise; beside (f)
//!   `rotate/raw_aead_10k`: the same number and sizes of raw XChaCha20-Poly1305 opens **and**
//!   seals. `reseal_all`'s JSON round trip of the fields (`ItemData`) and the manifest are not
//!   included; the `share_load` harness (`crates/cli/examples/share_load.rs`) measures the
//!   whole rotation end to end.
//!
//! Run: `cargo bench -p coffer-client --bench vault` (a quick side-by-side table is printed
//! first, then criterion's figures).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::array::Array;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use coffer_crypto::context::Purpose;
use coffer_crypto::item::{
    ItemLocation, SealedItem, generate_item_key, open_item, seal_item, seal_item_with_key,
    unwrap_item_key,
};
use coffer_crypto::key::SymmetricKey;
use coffer_crypto::{Context, KeyPair, PublicKeys, seal_grant};
use criterion::{Criterion, criterion_group, criterion_main};

const N: usize = 10_000;
/// Associated data length of an item field envelope (header + encoded context), about.
const AAD_LEN: usize = 128;
/// Grant recipients of one 50-member share: 50 identities + 150 devices.
const RECIPIENTS: usize = 200;

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

/// The per-item work of a rotation (`reseal_all`), without the `ItemData` JSON round trip.
fn reseal_all(v: &Vault, new_key: &SymmetricKey) -> usize {
    let mut total = 0;
    for (old_loc, bytes) in &v.items {
        let sealed = SealedItem::from_bytes(bytes).unwrap();
        let _old_item_key = unwrap_item_key(&v.key, &sealed.item_key, old_loc).unwrap();
        let fields = open_item(&v.key, &sealed, old_loc).unwrap();
        let loc = ItemLocation {
            epoch: 2,
            revision: old_loc.revision + 1,
            ..*old_loc
        };
        let item_key = generate_item_key().unwrap();
        let refs: Vec<(&str, &[u8])> = fields
            .iter()
            .map(|(k, f)| (k.as_str(), f.expose_secret()))
            .collect();
        let out = seal_item_with_key(new_key, &item_key, &loc, &refs)
            .unwrap()
            .to_bytes()
            .unwrap();
        total += out.len();
    }
    total
}

/// The raw AEAD work of a re-seal: every box of [`build_raw`] opened and sealed again.
fn raw_reseal_all(r: &Raw) -> usize {
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
        let tag = r
            .cipher
            .encrypt_inout_detached(&Array::from(r.nonce), &r.aad, out.as_mut_slice().into())
            .unwrap();
        ok += usize::from(tag[0] != 0 || !out.is_empty());
    }
    ok
}

struct Share {
    key: SymmetricKey,
    ctx: Context,
    granter: KeyPair,
    recipients: Vec<PublicKeys>,
    /// A message the size of a grant's signed part, for the raw signatures.
    msg: Vec<u8>,
}

fn build_share() -> Share {
    let key = SymmetricKey::generate().unwrap();
    let ctx = Context::new(Purpose::VaultKey)
        .with_workspace([0; 16])
        .with_vault([1; 16])
        .with_epoch(1);
    let granter = KeyPair::generate().unwrap();
    let recipients: Vec<PublicKeys> = (0..RECIPIENTS)
        .map(|_| KeyPair::generate().unwrap().public())
        .collect();
    let one = seal_grant(&key, &ctx, &recipients[0], &granter)
        .unwrap()
        .into_bytes();
    let msg = vec![0x5a; one.len().saturating_sub(64)];
    Share {
        key,
        ctx,
        granter,
        recipients,
        msg,
    }
}

fn seal_grants(s: &Share) -> usize {
    s.recipients
        .iter()
        .map(|r| {
            seal_grant(&s.key, &s.ctx, r, &s.granter)
                .unwrap()
                .into_bytes()
                .len()
        })
        .sum()
}

fn raw_signs(s: &Share) -> usize {
    (0..RECIPIENTS)
        .map(|_| usize::from(s.granter.sign("coffer.bench", &s.msg).unwrap()[0]))
        .sum()
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

    // issue 5: sharing (grants) and rotation (re-seal)
    let share = build_share();
    let new_key = SymmetricKey::generate().unwrap();
    let sc = best_of(5, || seal_grants(&share));
    let sd = best_of(5, || raw_signs(&share));
    let re = best_of(3, || reseal_all(&vault, &new_key));
    let rf = best_of(3, || raw_reseal_all(&raw));
    eprintln!(
        "one 50-member share: {RECIPIENTS} grants (50 identities + 150 devices), {} B each",
        share.msg.len() + 64
    );
    eprintln!("{:<44} {:>10}", "what", "best of 5/3");
    eprintln!("{:<44} {:>8.2} ms", "(c) seal_grant × 200", ms(sc));
    eprintln!("{:<44} {:>8.2} ms", "(d) raw Ed25519 sign × 200", ms(sd));
    eprintln!(
        "{:<44} {:>8.2} ×",
        "(c)/(d): HPKE + format over the signature",
        sc.as_secs_f64() / sd.as_secs_f64()
    );
    eprintln!(
        "{:<44} {:>8.3} ms   (goal: whole share < 2 s)",
        "    per grant",
        ms(sc) / RECIPIENTS as f64
    );
    eprintln!(
        "{:<44} {:>8.1} ms",
        "(e) rotation re-seal × 10k items",
        ms(re)
    );
    eprintln!(
        "{:<44} {:>8.1} ms",
        format!("(f) raw XChaCha20-Poly1305 open+seal × {}", raw.boxes.len()),
        ms(rf)
    );
    eprintln!(
        "{:<44} {:>8.2} ×   (goal: whole rotation of 10k < 5 s)",
        "(e)/(f): cost of the item format",
        re.as_secs_f64() / rf.as_secs_f64()
    );
    eprintln!();

    let mut g = c.benchmark_group("items");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("open_10k", |bch| bch.iter(|| open_all(&vault)));
    g.bench_function("raw_aead_10k", |bch| bch.iter(|| raw_all(&raw)));
    g.finish();

    let mut g = c.benchmark_group("grants");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("seal_200", |bch| bch.iter(|| seal_grants(&share)));
    g.bench_function("raw_sign_200", |bch| bch.iter(|| raw_signs(&share)));
    g.finish();

    let mut g = c.benchmark_group("rotate");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("reseal_10k", |bch| {
        bch.iter(|| reseal_all(&vault, &new_key))
    });
    g.bench_function("raw_aead_10k", |bch| bch.iter(|| raw_reseal_all(&raw)));
    g.finish();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

criterion_group!(benches, bench);
criterion_main!(benches);
