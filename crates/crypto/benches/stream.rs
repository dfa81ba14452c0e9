//! Stream throughput beside the raw AEAD over the same bytes (64 KiB chunks sealed in place in
//! one buffer, cipher built once). Target: stream ≥ 80 % of raw.
//! Run: `cargo bench -p coffer-crypto --bench stream -- --sample-count 20`.

// Test and benchmark code: a failed unwrap is a failed run (the rule bars them in library code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::array::Array;
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use coffer_crypto::stream::{CHUNK_SIZE, decrypt_stream, encrypt_stream};
use coffer_crypto::{Context, Purpose, SymmetricKey};
use divan::counter::BytesCount;
use divan::{Bencher, black_box};

/// 4 MiB: 64 chunks.
const LEN: usize = 4 << 20;

fn main() {
    divan::main();
}

fn ctx() -> Context {
    Context::new(Purpose::Attachment)
        .with_vault([2; 16])
        .with_item([3; 16])
        .with_epoch(1)
}

/// `encrypt_stream` from a byte slice to `io::sink()`.
#[divan::bench]
fn stream_encrypt(bencher: Bencher) {
    let key = SymmetricKey::generate().expect("key");
    let ctx = ctx();
    let plaintext = vec![0x5a; LEN];
    bencher.counter(BytesCount::new(LEN)).bench_local(|| {
        encrypt_stream(&key, &ctx, black_box(plaintext.as_slice()), io::sink()).expect("encrypt")
    });
}

/// `decrypt_stream` from a byte slice to `io::sink()`.
#[divan::bench]
fn stream_decrypt(bencher: Bencher) {
    let key = SymmetricKey::generate().expect("key");
    let ctx = ctx();
    let mut wire = Vec::new();
    encrypt_stream(&key, &ctx, vec![0x5a; LEN].as_slice(), &mut wire).expect("encrypt");
    bencher.counter(BytesCount::new(LEN)).bench_local(|| {
        decrypt_stream(&key, &ctx, black_box(wire.as_slice()), io::sink()).expect("decrypt")
    });
}

/// Raw `XChaCha20Poly1305`: seal every 64 KiB chunk of the same bytes in place.
#[divan::bench]
fn raw_encrypt(bencher: Bencher) {
    let cipher = XChaCha20Poly1305::new(&Array::default());
    let nonce = Array::default();
    let mut buf = vec![0x5a; LEN];
    bencher.counter(BytesCount::new(LEN)).bench_local(|| {
        for chunk in buf.chunks_mut(CHUNK_SIZE) {
            black_box(
                cipher
                    .encrypt_inout_detached(&nonce, b"", chunk.into())
                    .expect("encrypt"),
            );
        }
    });
}

/// Raw `XChaCha20Poly1305`: open every 64 KiB chunk of the same bytes, out of place (the
/// ciphertext stays intact, so no copy is needed between iterations).
#[divan::bench]
fn raw_decrypt(bencher: Bencher) {
    let cipher = XChaCha20Poly1305::new(&Array::default());
    let nonce = Array::default();
    let mut wire = vec![0x5a; LEN];
    let tags: Vec<_> = wire
        .chunks_mut(CHUNK_SIZE)
        .map(|c| {
            cipher
                .encrypt_inout_detached(&nonce, b"", c.into())
                .expect("encrypt")
        })
        .collect();
    let mut out = vec![0u8; LEN];
    bencher.counter(BytesCount::new(LEN)).bench_local(|| {
        for ((chunk, out), tag) in wire
            .chunks(CHUNK_SIZE)
            .zip(out.chunks_mut(CHUNK_SIZE))
            .zip(&tags)
        {
            let buf = InOutBuf::new(chunk, out).expect("equal lengths");
            cipher
                .decrypt_inout_detached(&nonce, b"", buf, tag)
                .expect("decrypt");
        }
    });
}
