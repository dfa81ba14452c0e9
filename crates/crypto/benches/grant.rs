//! Grant seal and open (target: each under 150 µs) beside the raw X25519 Diffie–Hellman and
//! Ed25519 sign/verify they are made of. Run: `cargo bench -p coffer-crypto --bench grant`.

// Benchmark code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffer_crypto::{Context, KeyPair, Purpose, SymmetricKey, open_grant, seal_grant};
use divan::{Bencher, black_box};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use x25519_dalek::{PublicKey, StaticSecret};

fn main() {
    divan::main();
}

fn ctx() -> Context {
    Context::new(Purpose::VaultKey)
        .with_workspace([1; 16])
        .with_vault([2; 16])
        .with_epoch(3)
}

#[divan::bench]
fn grant_seal(bencher: Bencher) {
    let granter = KeyPair::generate().unwrap();
    let recipient = KeyPair::generate().unwrap().public();
    let key = SymmetricKey::generate().unwrap();
    let ctx = ctx();
    bencher.bench_local(|| seal_grant(black_box(&key), &ctx, &recipient, &granter).unwrap());
}

#[divan::bench]
fn grant_open(bencher: Bencher) {
    let granter = KeyPair::generate().unwrap();
    let recipient = KeyPair::generate().unwrap();
    let key = SymmetricKey::generate().unwrap();
    let ctx = ctx();
    let grant = seal_grant(&key, &ctx, &recipient.public(), &granter).unwrap();
    let signer = *granter.public().signing();
    bencher.bench_local(|| open_grant(black_box(&grant), &recipient, &[signer], &ctx).unwrap());
}

/// The raw cost floor of a seal: one ephemeral X25519 key generation + one DH, and one Ed25519
/// signature.
#[divan::bench]
fn raw_x25519_dh_plus_ed25519_sign(bencher: Bencher) {
    let peer = PublicKey::from(&StaticSecret::random());
    let signing = SigningKey::from_bytes(&[7; 32]);
    let msg = [0u8; 200];
    bencher.bench_local(|| {
        let eph = StaticSecret::random();
        let _pk = PublicKey::from(&eph);
        let shared = eph.diffie_hellman(black_box(&peer));
        let sig = signing.sign(black_box(&msg));
        (shared, sig)
    });
}

/// The raw cost floor of an open: one X25519 DH and one Ed25519 verification.
#[divan::bench]
fn raw_x25519_dh_plus_ed25519_verify(bencher: Bencher) {
    let me = StaticSecret::random();
    let peer = PublicKey::from(&StaticSecret::random());
    let signing = SigningKey::from_bytes(&[7; 32]);
    let verifying = signing.verifying_key();
    let msg = [0u8; 200];
    let sig = signing.sign(&msg);
    bencher.bench_local(|| {
        let shared = me.diffie_hellman(black_box(&peer));
        let ok = verifying.verify(black_box(&msg), &sig).is_ok();
        (shared, ok)
    });
}

/// Parsing and validating a member's served public keys (done for every peer on a sync),
/// beside the raw parts: the Ed25519 point decompression, and the X25519 ladder that the
/// low-order check used to run (now a comparison with five constants).
#[divan::bench]
fn public_keys_from_bytes(bencher: Bencher) {
    let keys = KeyPair::generate().unwrap().public().to_bytes();
    bencher.bench_local(|| coffer_crypto::PublicKeys::from_bytes(black_box(&keys)).unwrap());
}

#[divan::bench]
fn raw_ed25519_decompress(bencher: Bencher) {
    let keys = KeyPair::generate().unwrap().public();
    let signing = *keys.signing();
    bencher.bench_local(|| ed25519_dalek::VerifyingKey::from_bytes(black_box(&signing)).unwrap());
}

#[divan::bench]
fn raw_x25519_ladder(bencher: Bencher) {
    let keys = KeyPair::generate().unwrap().public();
    let u = *keys.encryption();
    bencher.bench_local(|| x25519_dalek::x25519(black_box([0x5a; 32]), black_box(u)));
}
