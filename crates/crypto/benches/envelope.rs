//! Envelope seal+open beside the raw AEAD doing the same work (encrypt+decrypt of the same bytes,
//! empty associated data, cipher built once). Targets: 64 KiB ≤ 1.25× raw; a 200-byte field
//! < 2 µs. Run: `cargo bench -p coffer-crypto --bench envelope -- --sample-count 30`.

// Test and benchmark code: a failed unwrap is a failed run (the rule bars them in library code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aes_gcm::Aes256Gcm;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::array::Array;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use coffer_crypto::envelope::{open, seal_with};
use coffer_crypto::{Algorithm, Context, Purpose, SymmetricKey};
use divan::counter::BytesCount;
use divan::{Bencher, black_box};

/// A 200-byte field and a 64 KiB payload.
const SIZES: [usize; 2] = [200, 65536];

fn main() {
    divan::main();
}

fn ctx() -> Context {
    Context::new(Purpose::ItemField)
        .with_workspace([1; 16])
        .with_vault([2; 16])
        .with_item([3; 16])
        .with_field("password")
        .expect("short field")
        .with_epoch(1)
}

fn envelope(bencher: Bencher, alg: Algorithm, len: usize) {
    let key = SymmetricKey::generate().expect("key");
    let ctx = ctx();
    let plaintext = vec![0x5a; len];
    bencher.counter(BytesCount::new(len)).bench_local(|| {
        let env = seal_with(alg, &key, &ctx, black_box(&plaintext)).expect("seal");
        open(&key, &ctx, black_box(&env)).expect("open")
    });
}

fn raw<C: AeadInOut + KeyInit>(bencher: Bencher, len: usize) {
    let cipher = C::new(&Array::default());
    let nonce = Array::default();
    let mut buf = vec![0x5a; len];
    bencher.counter(BytesCount::new(len)).bench_local(|| {
        let tag = cipher
            .encrypt_inout_detached(&nonce, b"", black_box(buf.as_mut_slice()).into())
            .expect("encrypt");
        cipher
            .decrypt_inout_detached(&nonce, b"", black_box(buf.as_mut_slice()).into(), &tag)
            .expect("decrypt");
    });
}

/// `envelope::seal_with` + `envelope::open`, XChaCha20-Poly1305 (the default).
#[divan::bench(args = SIZES)]
fn envelope_xchacha20poly1305(bencher: Bencher, len: usize) {
    envelope(bencher, Algorithm::XChaCha20Poly1305, len);
}

/// Raw `XChaCha20Poly1305` encrypt + decrypt in place, same bytes.
#[divan::bench(args = SIZES)]
fn raw_xchacha20poly1305(bencher: Bencher, len: usize) {
    raw::<XChaCha20Poly1305>(bencher, len);
}

/// `envelope::seal_with` + `envelope::open`, AES-256-GCM.
#[divan::bench(args = SIZES)]
fn envelope_aes256gcm(bencher: Bencher, len: usize) {
    envelope(bencher, Algorithm::Aes256Gcm, len);
}

/// Raw `Aes256Gcm` encrypt + decrypt in place, same bytes.
#[divan::bench(args = SIZES)]
fn raw_aes256gcm(bencher: Bencher, len: usize) {
    raw::<Aes256Gcm>(bencher, len);
}
