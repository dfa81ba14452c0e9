//! RFC 9180 appendix A.2 vectors (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305)
//! against the `hpke` crate as configured for Coffer's grants: all four modes (base, psk, auth,
//! auth-psk). For each vector:
//!
//! - `DeriveKeyPair(ikmE / ikmR / ikmS)` gives exactly `pkEm`, `pkRm`, `pkSm`, and `skEm`,
//!   `skRm`, `skSm` up to RFC 7748 clamping (the crate serializes private keys clamped, the
//!   vectors list them unclamped);
//! - the sender, fed `ikmE` as its only randomness (the crate's ephemeral key is
//!   `DeriveKeyPair(random(32))`, so this injects the vector's ephemeral key), produces exactly
//!   `enc`, and sealing in sequence produces exactly every listed `ct` (sequence numbers that the
//!   vector skips are sealed with a filler message to advance the counter);
//! - the receiver, from `skRm` and `enc`, opens every listed `ct` to its `pt` with its `aad`
//!   (skipped sequence numbers are opened from the sender's filler ciphertexts);
//! - a wrong `aad` or a wrong `info` does not open.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, PskBundle, Serializable};
use serde_json::Value;

type PublicKey = <X25519HkdfSha256 as Kem>::PublicKey;
type PrivateKey = <X25519HkdfSha256 as Kem>::PrivateKey;
type EncappedKey = <X25519HkdfSha256 as Kem>::EncappedKey;

/// An "RNG" that returns a fixed byte string once, then refuses.
struct FixedRng(Vec<u8>);

impl TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("FixedRng: only fill_bytes is expected")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("FixedRng: only fill_bytes is expected")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(dst.len() <= self.0.len(), "FixedRng exhausted");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl TryCryptoRng for FixedRng {}

fn hx(v: &Value, field: &str) -> Vec<u8> {
    common::unhex(
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("vector field {field} missing")),
    )
}

/// RFC 7748 clamping of an X25519 scalar.
fn clamp(sk: &[u8]) -> Vec<u8> {
    let mut out = sk.to_vec();
    out[0] &= 248;
    out[31] &= 127;
    out[31] |= 64;
    out
}

fn check_keypair(v: &Value, ikm: &str, sk: &str, pk: &str) -> (PrivateKey, PublicKey) {
    let (s, p) = X25519HkdfSha256::derive_keypair(&hx(v, ikm));
    // The vectors list the unclamped scalar; the crate serializes private keys clamped
    // (RFC 9180 §7.1.2), so compare clamped values, and check the listed scalar parses to it.
    let listed = hx(v, sk);
    assert_eq!(s.to_bytes().as_slice(), clamp(&listed).as_slice(), "{sk}");
    let parsed = PrivateKey::from_bytes(&listed).expect("private key");
    assert_eq!(parsed.to_bytes(), s.to_bytes(), "{sk}");
    assert_eq!(p.to_bytes().as_slice(), hx(v, pk).as_slice(), "{pk}");
    (s, p)
}

#[test]
fn rfc9180_x25519_sha256_chacha20poly1305() {
    let file = common::load_json("hpke-x25519-sha256-chacha20poly1305.json");
    let vectors = file["vectors"].as_array().expect("vectors array");
    let mut tally = common::Tally::default();
    let mut modes_seen = Vec::new();
    for v in vectors {
        assert_eq!(v["kem_id"], 32);
        assert_eq!(v["kdf_id"], 1);
        assert_eq!(v["aead_id"], 3);
        let mode = v["mode"].as_u64().expect("mode");
        modes_seen.push(mode);
        let info = hx(v, "info");

        let (sk_e, pk_e) = check_keypair(v, "ikmE", "skEm", "pkEm");
        let (sk_r, pk_r) = check_keypair(v, "ikmR", "skRm", "pkRm");
        assert_eq!(X25519HkdfSha256::sk_to_pk(&sk_e), pk_e);
        assert_eq!(X25519HkdfSha256::sk_to_pk(&sk_r), pk_r);
        let sender_id = (mode == 2 || mode == 3).then(|| check_keypair(v, "ikmS", "skSm", "pkSm"));
        let (psk, psk_id) = if mode == 1 || mode == 3 {
            (hx(v, "psk"), hx(v, "psk_id"))
        } else {
            (Vec::new(), Vec::new())
        };
        let bundle = PskBundle::new(&psk, &psk_id).expect("psk bundle");

        let mode_s: OpModeS<'_, X25519HkdfSha256> = match (mode, &sender_id) {
            (0, _) => OpModeS::Base,
            (1, _) => OpModeS::Psk(bundle),
            (2, Some((s, p))) => OpModeS::Auth((s.clone(), p.clone())),
            (3, Some((s, p))) => OpModeS::AuthPsk((s.clone(), p.clone()), bundle),
            _ => panic!("unexpected mode {mode}"),
        };
        let mode_r = |id: &Option<(PrivateKey, PublicKey)>| -> OpModeR<'_, X25519HkdfSha256> {
            match (mode, id) {
                (0, _) => OpModeR::Base,
                (1, _) => OpModeR::Psk(bundle),
                (2, Some((_, p))) => OpModeR::Auth(p.clone()),
                (3, Some((_, p))) => OpModeR::AuthPsk(p.clone(), bundle),
                _ => panic!("unexpected mode {mode}"),
            }
        };

        // Sender with the vector's ephemeral key material as its only randomness.
        let mut rng = FixedRng(hx(v, "ikmE"));
        let (enc, mut sender) =
            hpke::setup_sender_with_rng::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &mode_s, &pk_r, &info, &mut rng,
            )
            .expect("setup_sender");
        assert!(rng.0.is_empty(), "the sender used exactly ikmE");
        assert_eq!(enc.to_bytes().as_slice(), hx(v, "enc").as_slice(), "enc");

        let encryptions: BTreeMap<u64, &Value> = v["encryptions"]
            .as_array()
            .expect("encryptions")
            .iter()
            .map(|e| (e["seq"].as_u64().expect("seq"), e))
            .collect();
        let last = *encryptions.keys().last().expect("at least one encryption");
        let mut sealed = Vec::new();
        for seq in 0..=last {
            match encryptions.get(&seq) {
                Some(e) => {
                    let ct = sender.seal(&hx(e, "pt"), &hx(e, "aad")).expect("seal");
                    assert_eq!(ct, hx(e, "ct"), "mode {mode} seq {seq}");
                    sealed.push((ct, hx(e, "aad"), hx(e, "pt")));
                }
                None => {
                    let filler = format!("filler {seq}").into_bytes();
                    let ct = sender.seal(&filler, b"").expect("seal filler");
                    sealed.push((ct, Vec::new(), filler));
                }
            }
        }

        // Receiver from the serialized enc and the recipient's private key.
        let enc = EncappedKey::from_bytes(&hx(v, "enc")).expect("enc");
        let sk_r = PrivateKey::from_bytes(&hx(v, "skRm")).expect("skRm");
        let mut receiver = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &mode_r(&sender_id),
            &sk_r,
            &enc,
            &info,
        )
        .expect("setup_receiver");
        for (seq, (ct, aad, pt)) in sealed.iter().enumerate() {
            if encryptions.contains_key(&(seq as u64)) {
                // A wrong aad fails (and does not advance the sequence).
                let mut bad_aad = aad.clone();
                bad_aad.push(0);
                assert!(receiver.open(ct, &bad_aad).is_err());
                tally.invalid_rejected += 1;
            }
            let opened = receiver.open(ct, aad).expect("open");
            assert_eq!(&opened, pt, "mode {mode} seq {seq}");
            if encryptions.contains_key(&(seq as u64)) {
                tally.valid_accepted += 1;
            }
        }

        // A different info gives a different key schedule: the first ciphertext does not open.
        let mut other_info = info.clone();
        other_info[0] ^= 1;
        let mut wrong = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &mode_r(&sender_id),
            &sk_r,
            &enc,
            &other_info,
        )
        .expect("setup_receiver");
        let (ct0, aad0, _) = &sealed[0];
        assert!(wrong.open(ct0, aad0).is_err());
        tally.invalid_rejected += 1;
    }
    assert!(
        modes_seen.contains(&0),
        "the base-mode vector must be present"
    );
    tally.report("RFC 9180 A.2 HPKE");
}
